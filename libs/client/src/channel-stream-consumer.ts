import { CHANNEL_RULE, isValidChannel } from '@presence/protocol';
import { KeySpace, channelEventFromMessage, channelEventFromStreamFields, channelEventRef, channelKeys } from '@presence/wire-format';
import type { ChannelEvent } from './api-types.js';
import { DEFAULTS } from './defaults.js';
import type { StreamConsumerError } from './errors.js';
import { GroupReader, type GroupConsumerOptions } from './group-reader.js';
import { TypedEmitter } from './typed-emitter.js';

export interface ChannelEntryContext {
  channel: string;
  /** The channel stream's key. */
  stream: string;
  /** The stream entry id (`event.id`: unique within its channel). */
  entryId: string;
  /** True when this consumer took the entry over from another one (or re-reads its own after a restart). */
  redelivered: boolean;
}

export type ChannelEventHandler = (event: ChannelEvent, context: ChannelEntryContext) => Promise<void> | void;

export interface ChannelStreamConsumerOptions extends GroupConsumerOptions {
  /**
   * Exact channel names (the channel rule of docs/protocol.md): the consumer reads these channels'
   * streams, `<prefix>:{c:<channel>}:events`, instead of the shard streams.
   */
  channels: readonly string[];
  /** Resolving acknowledges the event (XACK); throwing leaves it pending, to be delivered again. */
  handler: ChannelEventHandler;
}

export interface ChannelStreamConsumerEvents {
  /** Something failed; the consumer keeps running (handler failures are retried by redelivery). */
  error: [error: StreamConsumerError];
  /** This consumer took over entries another one left pending for claimIdleMs. */
  claimed: [info: { channel: string; count: number }];
}

/** The key of a channel's event stream: `<prefix>:{c:<channel>}:events` (docs/data-model.md, "Channels"). */
export function channelEventStreamKey(keyPrefix: string, channel: string): string {
  return channelKeys(keyPrefix, channel).events;
}

/**
 * Consumes the event streams of named channels with a Redis consumer group, as StreamConsumer does
 * the shard streams: at-least-once processing of their join, leave and update events, shared by any
 * number of workers. A channel event's `id` is unique within its channel: a handler's idempotency
 * key is the channel with the id (`<channel>=<id>`, as StreamConsumerError names it).
 */
export class ChannelStreamConsumer extends TypedEmitter<ChannelStreamConsumerEvents> {
  readonly channels: readonly string[];
  readonly streams: readonly string[];
  private readonly reader: GroupReader<ChannelEvent, ChannelEntryContext>;

  constructor(options: ChannelStreamConsumerOptions) {
    super();
    const channels = [...new Set(options.channels)];
    if (channels.length === 0) throw new RangeError('channels must name at least one channel');
    const bad = channels.find((channel) => !isValidChannel(channel));
    // Checked before any key is built: a name with `{` or `}` would put its stream in another slot.
    if (bad !== undefined) throw new RangeError(`channels: ${CHANNEL_RULE}, exact names only (got ${JSON.stringify(bad)})`);
    const keys = new KeySpace(options.keyPrefix ?? DEFAULTS.keyPrefix, 1);
    const streams = channels.map((channel) => keys.channel(channel).events);
    const indexOf = new Map(channels.map((channel, index) => [channel, index]));
    this.channels = channels;
    this.streams = streams;
    this.reader = new GroupReader<ChannelEvent, ChannelEntryContext>({
      options,
      handler: options.handler,
      streams: {
        keys: streams,
        // Every channel's events are published on one channel; a message names its channel.
        doorbell: keys.channelEventsChannel,
        rung: (message) => indexOf.get(channelEventFromMessage(message)?.channel ?? ''),
        decode: (index, entryId, fields) => channelEventFromStreamFields(channels[index] as string, entryId, fields),
        context: (index, entryId, redelivered) => ({
          channel: channels[index] as string,
          stream: streams[index] as string,
          entryId,
          redelivered,
        }),
        entryName: (index, entryId) => channelEventRef({ channel: channels[index] as string, id: entryId }),
      },
      error: (error) => this.emit('error', error),
      claimed: (index, count) => this.emit('claimed', { channel: channels[index] as string, count }),
    });
  }

  /**
   * Creates the group on every channel's stream if needed, handles this consumer's own pending
   * entries (left by its previous run), then keeps consuming until stop().
   */
  start(): Promise<void> {
    return this.reader.start();
  }

  /**
   * Stops taking events and closes the pub/sub connection. Waits up to `timeoutMs` for the handler
   * in progress (its event is then acknowledged); a handler still running after that is abandoned,
   * and its event, unacknowledged, is delivered again later.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    return this.reader.stop(options);
  }
}
