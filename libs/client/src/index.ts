// Everything the browser bundle has (browser.ts), and what only Node programs or lower-level users need.
export * from './browser.js';
export { StreamConsumerError } from './errors.js';
export { Backoff, jitter } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { parseServerFrame } from './server-frame.js';
export type { ServerFrame } from './server-frame.js';
export { SseParser } from './sse-parser.js';
export type { SseMessage } from './sse-parser.js';
export { ChannelStreamConsumer, channelEventStreamKey } from './channel-stream-consumer.js';
export type {
  ChannelEntryContext,
  ChannelEventHandler,
  ChannelStreamConsumerEvents,
  ChannelStreamConsumerOptions,
} from './channel-stream-consumer.js';
export type { GroupConsumerOptions } from './group-reader.js';
export { StreamConsumer, createStreamConsumer, eventStreamKey } from './stream-consumer.js';
export type { StreamConsumerEvents, StreamConsumerOptions, StreamEntryContext, StreamEventHandler } from './stream-consumer.js';
export { TypedEmitter } from './typed-emitter.js';
