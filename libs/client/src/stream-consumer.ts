import { KeySpace, eventFromMessage, eventFromStreamFields, eventId, parseEventId } from '@presence/wire-format';
import type { PresenceEvent } from './api-types.js';
import { ChannelStreamConsumer, type ChannelStreamConsumerOptions } from './channel-stream-consumer.js';
import { DEFAULTS } from './defaults.js';
import type { StreamConsumerError } from './errors.js';
import { GroupReader, type GroupConsumerOptions } from './group-reader.js';
import { TypedEmitter } from './typed-emitter.js';

export interface StreamEntryContext {
  shard: number;
  /** The shard stream's key. */
  stream: string;
  /** The stream entry id (the part of `event.id` after `<shard>-`). */
  entryId: string;
  /** True when this consumer took the entry over from another one (or re-reads its own after a restart). */
  redelivered: boolean;
}

export type StreamEventHandler = (event: PresenceEvent, context: StreamEntryContext) => Promise<void> | void;

export interface StreamConsumerOptions extends GroupConsumerOptions {
  /** Resolving acknowledges the event (XACK); throwing leaves it pending, to be delivered again. */
  handler: StreamEventHandler;
  /** The deployment's `SHARD_COUNT`. */
  shardCount?: number;
  /** Absent: this consumer reads the shard streams (ChannelStreamConsumerOptions names channels). */
  channels?: undefined;
}

export interface StreamConsumerEvents {
  /** Something failed; the consumer keeps running (handler failures are retried by redelivery). */
  error: [error: StreamConsumerError];
  /** This consumer took over entries another one left pending for claimIdleMs. */
  claimed: [info: { shard: number; count: number }];
}

/** The key of a shard's event stream: `<prefix>:{s<shard>}:events` (docs/data-model.md). */
export function eventStreamKey(keyPrefix: string, shard: number): string {
  return KeySpace.shardKeys(keyPrefix, shard).events;
}

/**
 * A consumer group over the event streams: the shard streams' online/offline events, or, with
 * `channels`, the join/leave/update events of those channels (a ChannelStreamConsumer).
 */
export function createStreamConsumer(options: ChannelStreamConsumerOptions): ChannelStreamConsumer;
export function createStreamConsumer(options: StreamConsumerOptions): StreamConsumer;
export function createStreamConsumer(
  options: StreamConsumerOptions | ChannelStreamConsumerOptions,
): StreamConsumer | ChannelStreamConsumer {
  return options.channels === undefined ? new StreamConsumer(options) : new ChannelStreamConsumer(options);
}

/**
 * Consumes the presence event streams with a Redis consumer group: at-least-once processing shared
 * by any number of workers (the work itself is GroupReader's). Every event is handled at least
 * once; a handler must be idempotent, with `event.id` as the key. docs/client.md has the details.
 */
export class StreamConsumer extends TypedEmitter<StreamConsumerEvents> {
  readonly streams: readonly string[];
  private readonly reader: GroupReader<PresenceEvent, StreamEntryContext>;

  constructor(options: StreamConsumerOptions) {
    super();
    const prefix = options.keyPrefix ?? DEFAULTS.keyPrefix;
    const shardCount = options.shardCount ?? DEFAULTS.shardCount;
    if (!Number.isInteger(shardCount) || shardCount < 1) throw new RangeError('shardCount must be a whole number of at least 1');
    const keys = new KeySpace(prefix, shardCount);
    const streams = keys.allShards().map((shard) => shard.events);
    this.streams = streams;
    this.reader = new GroupReader<PresenceEvent, StreamEntryContext>({
      options,
      handler: options.handler,
      streams: {
        keys: streams,
        // The events channel: its messages' ids name the shard.
        doorbell: keys.eventsChannel,
        rung: (message) => parseEventId(eventFromMessage(message)?.id ?? '')?.shard,
        decode: (shard, entryId, fields) => eventFromStreamFields(shard, entryId, fields),
        context: (shard, entryId, redelivered) => ({ shard, stream: streams[shard] as string, entryId, redelivered }),
        entryName: (shard, entryId) => eventId(shard, entryId),
      },
      error: (error) => this.emit('error', error),
      claimed: (shard, count) => this.emit('claimed', { shard, count }),
    });
  }

  /**
   * Creates the group on every shard stream if needed, handles this consumer's own pending
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
