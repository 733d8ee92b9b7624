export { DEFAULTS } from './defaults.js';
export { FATAL_SERVER_CODES, PresenceApiError, PresenceClientError, StreamConsumerError } from './errors.js';
export type { PresenceClientErrorCode } from './errors.js';
export { Backoff, jitter } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { PresenceClient, createPresenceClient } from './presence-client.js';
export type {
  ConnectedInfo,
  DisconnectReason,
  DisconnectedInfo,
  Endpoint,
  PresenceClientEvents,
  PresenceClientOptions,
  PresenceClientStatus,
  PresenceState,
  ReconnectingInfo,
} from './presence-client.js';
export { parseServerFrame } from './server-frame.js';
export type { ServerFrame } from './server-frame.js';
export { PresenceHttpClient, createHttpClient } from './http-client.js';
export type { HttpClientOptions, ListOptions } from './http-client.js';
export { EventStream } from './event-stream.js';
export type { EventStreamItem, EventStreamOptions, EventStreamRetry } from './event-stream.js';
export { SseParser } from './sse-parser.js';
export type { SseMessage } from './sse-parser.js';
export { StreamConsumer, createStreamConsumer, eventStreamKey } from './stream-consumer.js';
export type { StreamConsumerEvents, StreamConsumerOptions, StreamEntryContext, StreamEventHandler } from './stream-consumer.js';
export { TypedEmitter } from './typed-emitter.js';
export type {
  ClientPresence,
  ListPage,
  NodeStats,
  OfflineReason,
  PresenceEvent,
  PresenceEventType,
  PresenceStats,
  QueryResult,
  SessionView,
} from './api-types.js';
