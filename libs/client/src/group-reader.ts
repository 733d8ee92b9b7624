import { WakeableSleep } from '@presence/protocol';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULTS } from './defaults.js';
import { StreamConsumerError } from './errors.js';

/** The options every stream consumer takes, whichever streams it reads. */
export interface GroupConsumerOptions {
  /** A connection the consumer may use for its commands (it opens one more, a duplicate, for pub/sub wake-ups). */
  redis: Redis | Cluster;
  /** Consumer group: the workers that share the work. Every group sees every event once. */
  group: string;
  /** This worker's name within the group, stable across its restarts (e.g. the host name). */
  consumer: string;
  /** The deployment's `KEY_PREFIX`. */
  keyPrefix?: string;
  /** Where a group that does not exist yet starts: `new` events only (default) or `all` still retained. */
  startAt?: 'new' | 'all';
  batchSize?: number;
  pollMs?: number;
  claimIdleMs?: number;
  claimIntervalMs?: number;
  /** Read a stream as soon as its event is published (pub/sub doorbell) rather than on the next poll. */
  wakeOnPublish?: boolean;
}

/** The streams a consumer reads, and how their entries become the events and contexts its handler gets. */
export interface ConsumedStreams<Event, Context> {
  /** The streams' keys; a stream is named by its index in this list. */
  keys: readonly string[];
  /** The pub/sub channel whose messages ring a stream's doorbell. */
  doorbell: string;
  /** The index of the stream a doorbell message is about, if it is one of these. */
  rung(message: string): number | undefined;
  decode(index: number, entryId: string, fields: readonly string[]): Event;
  context(index: number, entryId: string, redelivered: boolean): Context;
  /** How errors name an entry: the event's id as its users know it. */
  entryName(index: number, entryId: string): string;
}

export interface GroupReaderDeps<Event, Context> {
  options: GroupConsumerOptions;
  streams: ConsumedStreams<Event, Context>;
  handler: (event: Event, context: Context) => Promise<void> | void;
  error(error: StreamConsumerError): void;
  claimed(index: number, count: number): void;
}

type Entry = [id: string, fields: string[] | null];

/**
 * The consumer-group work shared by the stream consumers (StreamConsumer: the shard streams;
 * ChannelStreamConsumer: the streams of named channels). Per stream it creates the group (XGROUP
 * CREATE … MKSTREAM), reads new entries (XREADGROUP … >), calls the handler and acknowledges (XACK)
 * once the handler resolved. An entry whose handler threw, or whose worker died before
 * acknowledging, stays pending; any worker's claim round (XAUTOCLAIM, every claimIntervalMs) takes
 * entries idle for claimIdleMs and delivers them again. docs/client.md has the details.
 *
 * Every call touches one stream (one hash slot), so it works on Redis Cluster as on a single Redis.
 * Instead of one blocking XREADGROUP per stream (a connection each), it polls and is woken by the
 * pub/sub channel on which each event is published.
 */
export class GroupReader<Event, Context> {
  private readonly redis: Redis | Cluster;
  private readonly group: string;
  private readonly consumer: string;
  private readonly streams: ConsumedStreams<Event, Context>;
  private readonly deps: GroupReaderDeps<Event, Context>;
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

  constructor(deps: GroupReaderDeps<Event, Context>) {
    const { options } = deps;
    this.deps = deps;
    this.streams = deps.streams;
    this.redis = options.redis;
    this.group = options.group;
    this.consumer = options.consumer;
    this.startId = options.startAt === 'all' ? '0' : '$';
    this.batchSize = options.batchSize ?? DEFAULTS.consumerBatchSize;
    this.pollMs = options.pollMs ?? DEFAULTS.consumerPollMs;
    this.claimIdleMs = options.claimIdleMs ?? DEFAULTS.consumerClaimIdleMs;
    this.claimIntervalMs = options.claimIntervalMs ?? DEFAULTS.consumerClaimIntervalMs;
    this.wakeOnPublish = options.wakeOnPublish ?? true;
  }

  private get count(): number {
    return this.streams.keys.length;
  }

  /**
   * Creates the group on every stream if needed, handles this consumer's own pending entries (left
   * by its previous run), then keeps consuming until stop().
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await Promise.all(this.streams.keys.map((stream) => this.createGroup(stream)));
    if (this.wakeOnPublish) await this.subscribe();
    for (let index = 0; index < this.count && this.running; index += 1) await this.handleOwnPending(index);
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
      if (channel !== this.streams.doorbell) return;
      const index = this.streams.rung(message);
      if (index !== undefined && index >= 0 && index < this.count) {
        this.dirty.add(index);
        this.pause.wake();
      }
    });
    this.subscriber = subscriber;
    await subscriber.subscribe(this.streams.doorbell);
  }

  private async loop(): Promise<void> {
    let nextClaimAt = 0;
    let nextPollAt = 0;
    while (this.running) {
      const now = Date.now();
      try {
        if (now >= nextClaimAt) {
          nextClaimAt = now + this.claimIntervalMs;
          for (let index = 0; index < this.count && this.running; index += 1) await this.claim(index);
        }
        if (now >= nextPollAt) {
          nextPollAt = now + this.pollMs;
          for (let index = 0; index < this.count; index += 1) this.dirty.add(index);
        }
        if (this.dirty.size > 0) {
          const indexes = [...this.dirty];
          this.dirty.clear();
          // Issued together: ioredis pipelines them, one round trip for all streams.
          const batches = await Promise.all(indexes.map((index) => this.read(index, '>')));
          for (const [i, index] of indexes.entries()) {
            const entries = batches[i] ?? [];
            for (const entry of entries) {
              if (!this.running) return;
              await this.handle(index, entry, false);
            }
            if (entries.length >= this.batchSize) this.dirty.add(index);
          }
          continue;
        }
      } catch (error) {
        this.deps.error(
          new StreamConsumerError('redis_failed', `reading the event streams failed: ${describe(error)}`, null, { cause: error }),
        );
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

  private async read(index: number, from: string): Promise<Entry[]> {
    const reply = await this.redis.call(
      'XREADGROUP',
      'GROUP',
      this.group,
      this.consumer,
      'COUNT',
      this.batchSize,
      'STREAMS',
      this.streams.keys[index] as string,
      from,
    );
    return entriesOf(reply);
  }

  /** Entries this consumer read but never acknowledged (its previous run died mid-batch). */
  private async handleOwnPending(index: number): Promise<void> {
    let after = '0';
    try {
      for (;;) {
        const entries = await this.read(index, after);
        for (const entry of entries) {
          if (!this.running) return;
          await this.handle(index, entry, true);
        }
        const last = entries[entries.length - 1];
        if (last === undefined || entries.length < this.batchSize) return;
        after = last[0];
      }
    } catch (error) {
      this.deps.error(
        new StreamConsumerError('redis_failed', `reading own pending entries failed: ${describe(error)}`, null, { cause: error }),
      );
    }
  }

  /** Takes over entries other consumers left pending for claimIdleMs (they died or their handler failed). */
  private async claim(index: number): Promise<void> {
    const stream = this.streams.keys[index] as string;
    let cursor = '0-0';
    let count = 0;
    do {
      const reply = (await this.redis.call(
        'XAUTOCLAIM',
        stream,
        this.group,
        this.consumer,
        this.claimIdleMs,
        cursor,
        'COUNT',
        this.batchSize,
      )) as [string, Entry[], ...unknown[]];
      cursor = String(reply[0]);
      const entries = Array.isArray(reply[1]) ? reply[1] : [];
      count += entries.length;
      for (const entry of entries) {
        if (!this.running) return;
        await this.handle(index, entry, true);
      }
    } while (cursor !== '0-0' && this.running);
    if (count > 0) this.deps.claimed(index, count);
  }

  private async handle(index: number, [entryId, fields]: Entry, redelivered: boolean): Promise<void> {
    const stream = this.streams.keys[index] as string;
    const name = this.streams.entryName(index, entryId);
    // An entry trimmed from the stream while pending has no fields left: nothing to handle.
    if (fields !== null && fields.length > 0) {
      const event = this.streams.decode(index, entryId, fields);
      try {
        await this.deps.handler(event, this.streams.context(index, entryId, redelivered));
      } catch (error) {
        this.deps.error(
          new StreamConsumerError('handler_failed', `the handler failed on event ${name}: ${describe(error)}`, name, { cause: error }),
        );
        return;
      }
    }
    try {
      await this.redis.xack(stream, this.group, entryId);
    } catch (error) {
      // Not acknowledged: it will be delivered again after claimIdleMs (handlers are idempotent).
      this.deps.error(new StreamConsumerError('redis_failed', `acknowledging ${name} failed: ${describe(error)}`, name, { cause: error }));
    }
  }
}

/** XREADGROUP's reply for one stream: `[[key, entries]]` (RESP2) or `[key, entries]` (a RESP3 map, flattened). */
function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const entries: unknown = Array.isArray(reply[0]) ? (reply[0] as unknown[])[1] : reply[1];
  return Array.isArray(entries) ? (entries as Entry[]) : [];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
