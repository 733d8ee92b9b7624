import type { Cluster, Redis } from 'ioredis';
import type { OfflineReason, PresenceEvent, PresenceEventType } from './api-types.js';
import { DEFAULTS } from './defaults.js';
import { StreamConsumerError } from './errors.js';
import { TypedEmitter } from './typed-emitter.js';
import { WakeableSleep } from './wakeable-sleep.js';

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

export interface StreamConsumerOptions {
  /** A connection the consumer may use for its commands (it opens one more, a duplicate, for pub/sub wake-ups). */
  redis: Redis | Cluster;
  /** Consumer group: the workers that share the work. Every group sees every event once. */
  group: string;
  /** This worker's name within the group, stable across its restarts (e.g. the host name). */
  consumer: string;
  /** Resolving acknowledges the event (XACK); throwing leaves it pending, to be delivered again. */
  handler: StreamEventHandler;
  /** The deployment's `KEY_PREFIX`. */
  keyPrefix?: string;
  /** The deployment's `SHARD_COUNT`. */
  shardCount?: number;
  /** Where a group that does not exist yet starts: `new` events only (default) or `all` still retained. */
  startAt?: 'new' | 'all';
  batchSize?: number;
  pollMs?: number;
  claimIdleMs?: number;
  claimIntervalMs?: number;
  /** Read a shard as soon as its event is published (pub/sub doorbell) rather than on the next poll. */
  wakeOnPublish?: boolean;
}

export interface StreamConsumerEvents {
  /** Something failed; the consumer keeps running (handler failures are retried by redelivery). */
  error: [error: StreamConsumerError];
  /** This consumer took over entries another one left pending for claimIdleMs. */
  claimed: [info: { shard: number; count: number }];
}

/** The key of a shard's event stream: `<prefix>:{s<shard>}:events` (docs/data-model.md). */
export function eventStreamKey(keyPrefix: string, shard: number): string {
  return `${keyPrefix}:{s${shard}}:events`;
}

export function createStreamConsumer(options: StreamConsumerOptions): StreamConsumer {
  return new StreamConsumer(options);
}

type Entry = [id: string, fields: string[] | null];

/**
 * Consumes the presence event streams with a Redis consumer group: at-least-once processing shared
 * by any number of workers. Per shard stream it creates the group (XGROUP CREATE … MKSTREAM), reads
 * new entries (XREADGROUP … >), calls the handler and acknowledges (XACK) once the handler resolved.
 * An entry whose handler threw, or whose worker died before acknowledging, stays pending; any
 * worker's claim round (XAUTOCLAIM, every claimIntervalMs) takes entries idle for claimIdleMs and
 * delivers them again. So every event is handled at least once; a handler must be idempotent, with
 * `event.id` as the key. docs/client.md has the details.
 *
 * Every call touches one shard stream (one hash slot), so it works on Redis Cluster as on a single
 * Redis. Instead of one blocking XREADGROUP per shard (a connection each), it polls and is woken by
 * the events channel, which names the shard of each event.
 */
export class StreamConsumer extends TypedEmitter<StreamConsumerEvents> {
  readonly streams: readonly string[];
  private readonly redis: Redis | Cluster;
  private readonly group: string;
  private readonly consumer: string;
  private readonly handler: StreamEventHandler;
  private readonly channel: string;
  private readonly shardCount: number;
  private readonly startId: string;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly claimIdleMs: number;
  private readonly claimIntervalMs: number;
  private readonly wakeOnPublish: boolean;
  private subscriber: Redis | Cluster | null = null;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private readonly dirty = new Set<number>();
  private readonly pause = new WakeableSleep();

  constructor(options: StreamConsumerOptions) {
    super();
    const prefix = options.keyPrefix ?? DEFAULTS.keyPrefix;
    this.shardCount = options.shardCount ?? DEFAULTS.shardCount;
    if (!Number.isInteger(this.shardCount) || this.shardCount < 1) throw new RangeError('shardCount must be a whole number of at least 1');
    this.streams = Array.from({ length: this.shardCount }, (_, shard) => eventStreamKey(prefix, shard));
    this.channel = `${prefix}:events`;
    this.redis = options.redis;
    this.group = options.group;
    this.consumer = options.consumer;
    this.handler = options.handler;
    this.startId = options.startAt === 'all' ? '0' : '$';
    this.batchSize = options.batchSize ?? DEFAULTS.consumerBatchSize;
    this.pollMs = options.pollMs ?? DEFAULTS.consumerPollMs;
    this.claimIdleMs = options.claimIdleMs ?? DEFAULTS.consumerClaimIdleMs;
    this.claimIntervalMs = options.claimIntervalMs ?? DEFAULTS.consumerClaimIntervalMs;
    this.wakeOnPublish = options.wakeOnPublish ?? true;
  }

  /**
   * Creates the group on every shard stream if needed, handles this consumer's own pending
   * entries (left by its previous run), then keeps consuming until stop().
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await Promise.all(this.streams.map((stream) => this.createGroup(stream)));
    if (this.wakeOnPublish) await this.subscribe();
    for (let shard = 0; shard < this.shardCount && this.running; shard += 1) await this.handleOwnPending(shard);
    this.loopDone = this.loop();
  }

  /**
   * Stops taking events and closes the pub/sub connection. Waits up to `timeoutMs` for the handler
   * in progress (its event is then acknowledged); a handler still running after that is abandoned,
   * and its event, unacknowledged, is delivered again later.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.running = false;
    this.pause.wake();
    const loopDone = this.loopDone;
    this.loopDone = null;
    if (loopDone !== null) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.timeoutMs ?? DEFAULTS.consumerStopTimeoutMs);
      });
      await Promise.race([loopDone, timeout]);
      clearTimeout(timer);
    }
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber !== null) await subscriber.quit().catch(() => subscriber.disconnect());
  }

  private async createGroup(stream: string): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', stream, this.group, this.startId, 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
  }

  private async subscribe(): Promise<void> {
    // Cluster and Redis both have duplicate(), with signatures TypeScript can't unite.
    const subscriber = (this.redis as Redis).duplicate() as Redis | Cluster;
    // Outages show up as failed reads in the loop; the doorbell connection reconnects by itself.
    subscriber.on('error', () => {});
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const shard = Number.parseInt(message.slice(message.indexOf('"id":"') + 6), 10);
      if (Number.isInteger(shard) && shard >= 0 && shard < this.shardCount) {
        this.dirty.add(shard);
        this.pause.wake();
      }
    });
    this.subscriber = subscriber;
    await subscriber.subscribe(this.channel);
  }

  private async loop(): Promise<void> {
    let nextClaimAt = 0;
    let nextPollAt = 0;
    while (this.running) {
      const now = Date.now();
      try {
        if (now >= nextClaimAt) {
          nextClaimAt = now + this.claimIntervalMs;
          for (let shard = 0; shard < this.shardCount && this.running; shard += 1) await this.claim(shard);
        }
        if (now >= nextPollAt) {
          nextPollAt = now + this.pollMs;
          for (let shard = 0; shard < this.shardCount; shard += 1) this.dirty.add(shard);
        }
        if (this.dirty.size > 0) {
          const shards = [...this.dirty];
          this.dirty.clear();
          // Issued together: ioredis pipelines them, one round trip for all shards.
          const batches = await Promise.all(shards.map((shard) => this.read(shard, '>')));
          for (const [i, shard] of shards.entries()) {
            const entries = batches[i] ?? [];
            for (const entry of entries) {
              if (!this.running) return;
              await this.handle(shard, entry, false);
            }
            if (entries.length >= this.batchSize) this.dirty.add(shard);
          }
          continue;
        }
      } catch (error) {
        this.emit('error', new StreamConsumerError('redis_failed', `reading the event streams failed: ${describe(error)}`, null, { cause: error }));
        await this.idle(this.pollMs);
        continue;
      }
      await this.idle(Math.min(nextClaimAt, nextPollAt) - Date.now());
    }
  }

  private idle(ms: number): Promise<void> {
    if (ms <= 0 || !this.running) return Promise.resolve();
    return this.pause.sleep(ms);
  }

  private async read(shard: number, from: string): Promise<Entry[]> {
    const reply = await this.redis.call(
      'XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'STREAMS', this.streams[shard] as string, from,
    );
    return entriesOf(reply);
  }

  /** Entries this consumer read but never acknowledged (its previous run died mid-batch). */
  private async handleOwnPending(shard: number): Promise<void> {
    let after = '0';
    try {
      for (;;) {
        const entries = await this.read(shard, after);
        for (const entry of entries) {
          if (!this.running) return;
          await this.handle(shard, entry, true);
        }
        const last = entries[entries.length - 1];
        if (last === undefined || entries.length < this.batchSize) return;
        after = last[0];
      }
    } catch (error) {
      this.emit('error', new StreamConsumerError('redis_failed', `reading own pending entries failed: ${describe(error)}`, null, { cause: error }));
    }
  }

  /** Takes over entries other consumers left pending for claimIdleMs (they died or their handler failed). */
  private async claim(shard: number): Promise<void> {
    const stream = this.streams[shard] as string;
    let cursor = '0-0';
    let count = 0;
    do {
      const reply = (await this.redis.call(
        'XAUTOCLAIM', stream, this.group, this.consumer, this.claimIdleMs, cursor, 'COUNT', this.batchSize,
      )) as [string, Entry[], ...unknown[]];
      cursor = String(reply[0]);
      const entries = Array.isArray(reply[1]) ? reply[1] : [];
      count += entries.length;
      for (const entry of entries) {
        if (!this.running) return;
        await this.handle(shard, entry, true);
      }
    } while (cursor !== '0-0' && this.running);
    if (count > 0) this.emit('claimed', { shard, count });
  }

  private async handle(shard: number, [entryId, fields]: Entry, redelivered: boolean): Promise<void> {
    const stream = this.streams[shard] as string;
    // An entry trimmed from the stream while pending has no fields left: nothing to handle.
    if (fields !== null && fields.length > 0) {
      const event = eventFromFields(shard, entryId, fields);
      try {
        await this.handler(event, { shard, stream, entryId, redelivered });
      } catch (error) {
        this.emit('error', new StreamConsumerError('handler_failed', `the handler failed on event ${event.id}: ${describe(error)}`, event.id, { cause: error }));
        return;
      }
    }
    try {
      await this.redis.xack(stream, this.group, entryId);
    } catch (error) {
      // Not acknowledged: it will be delivered again after claimIdleMs (handlers are idempotent).
      this.emit('error', new StreamConsumerError('redis_failed', `acknowledging ${shard}-${entryId} failed: ${describe(error)}`, `${shard}-${entryId}`, { cause: error }));
    }
  }
}

/** XREADGROUP's reply for one stream: `[[key, entries]]` (RESP2) or `[key, entries]` (a RESP3 map, flattened). */
function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const entries: unknown = Array.isArray(reply[0]) ? (reply[0] as unknown[])[1] : reply[1];
  return Array.isArray(entries) ? (entries as Entry[]) : [];
}

function eventFromFields(shard: number, entryId: string, fields: string[]): PresenceEvent {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(String(fields[i]), String(fields[i + 1]));
  return {
    id: `${shard}-${entryId}`,
    type: (map.get('type') ?? 'online') as PresenceEventType,
    clientId: map.get('clientId') ?? '',
    sessionId: map.get('sessionId') ?? '',
    node: map.get('node') ?? '',
    reason: (map.get('reason') as OfflineReason | undefined) ?? null,
    at: Number(map.get('at')),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
