/**
 * The channel processor: applies the shards' channel outboxes (docs/data-model.md, "Channels").
 * Every session end that had joined channels left one outbox entry in its shard, written with the
 * end itself; this loop leaves each of its channels with an idempotent per-channel script and then
 * deletes the entry. The script that writes an entry also publishes on a pub/sub channel named like
 * the stream: a doorbell that makes this processor drain that shard at once; every shard is read
 * anyway every `intervalMs`, in case a doorbell was lost. What it keeps in memory is only where to
 * read next: a replica killed mid-entry leaves the entry for the next pass (its own, or another
 * replica's), which writes no second event. Several replicas may run it at once; they only repeat
 * each other's no-op leaves.
 */
import { isRedisUnavailable, type ChannelStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { Cluster, Redis } from 'ioredis';
import { Counter, type Registry } from 'prom-client';

export interface ChannelOutboxOptions {
  /** Every shard's outbox is read this often even without a doorbell (CHANNEL_OUTBOX_INTERVAL_MS). */
  intervalMs: number;
  /** Entries per drain call (CHANNEL_OUTBOX_BATCH): bounds each call's leaves. */
  batch: number;
}

export interface ChannelOutbox {
  start(): void;
  /** Stops after the drains in progress. */
  close(): Promise<void>;
}

/**
 * A shard is read from where the last drain stopped, and from its start again when an entry left
 * waiting (a grace) falls due, and at least this often: after a Redis failover the new primary may
 * number new entries below the old position.
 */
const FULL_SCAN_EVERY_MS = 10_000;

interface ShardPosition {
  /** The last entry read, or '-' to read from the start. */
  after: string;
  /** Redis time (ms) at which an entry left waiting falls due; null if none waits. */
  rescanAt: number | null;
  /** Monotonic ms of the last read from the start. */
  fullScanAt: number;
}

export function createChannelOutbox(deps: {
  channels: ChannelStore;
  /** A connection for the doorbells alone (it is put in subscriber mode). */
  subscriber: Redis | Cluster;
  logger: Logger;
  registry: Registry;
  options: ChannelOutboxOptions;
}): ChannelOutbox {
  const { channels, subscriber, logger, options } = deps;
  const leaves = new Counter({
    name: 'presence_channel_outbox_leaves_total',
    help: 'Channel leaves applied from the session outboxes, by whether they wrote a leave event',
    labelNames: ['event'],
    registers: [deps.registry],
  });
  const shards = channels.keys.allShards();
  const positions = shards.map((): ShardPosition => ({ after: '-', rescanAt: null, fullScanAt: 0 }));
  const shardOfDoorbell = new Map(shards.map((keys) => [keys.outbox, keys.shard]));
  // Redis's clock as last read, and when (monotonic): "now" in Redis time, estimated between reads.
  let clock = { redisMs: 0, monoMs: 0 };
  const redisNow = () => (clock.redisMs === 0 ? 0 : clock.redisMs + (performance.now() - clock.monoMs));
  /** Shards to drain: rung, polled, or with more entries than the last drain took. */
  const dirty = new Set<number>();
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  /** Where to read a shard from this time. */
  function readFrom(shard: number): string {
    const position = positions[shard] as ShardPosition;
    const due = position.rescanAt !== null && redisNow() >= position.rescanAt;
    if (due || performance.now() - position.fullScanAt >= FULL_SCAN_EVERY_MS) {
      position.after = '-';
      position.rescanAt = null;
      position.fullScanAt = performance.now();
    }
    return position.after;
  }

  /**
   * Drains the dirty shards together, so that the ends of one channel in different shards leave it
   * in one call (drainOutboxes), until none is dirty. A shard with more than a batch stays dirty
   * for the next round, beside the others.
   */
  async function drainDirty(): Promise<void> {
    while (dirty.size > 0 && !stopped) {
      const reads = [...dirty].map((shard) => ({ shard, after: readFrom(shard) }));
      dirty.clear();
      try {
        const drained = await channels.drainOutboxes(reads, options.batch);
        if (drained.now > 0) clock = { redisMs: drained.now, monoMs: performance.now() };
        for (const part of drained.shards) {
          const position = positions[part.shard] as ShardPosition;
          if (part.lastId !== null) position.after = part.lastId;
          if (part.nextDue !== null) position.rescanAt = Math.min(position.rescanAt ?? Infinity, part.nextDue);
          if (part.more) dirty.add(part.shard);
        }
        leaves.inc({ event: 'yes' }, drained.events);
        leaves.inc({ event: 'no' }, drained.leaves - drained.events);
      } catch (error) {
        // Read from the start next time (the position may not be worth trusting); the poll retries.
        for (const { shard } of reads) (positions[shard] as ShardPosition).after = '-';
        if (isRedisUnavailable(error)) logger.debug({ error: (error as Error).message }, 'channel outbox: Redis unavailable');
        else logger.warn({ err: error }, 'channel outbox: drain failed; the next poll retries');
        return;
      }
    }
  }

  /** Marks shards to drain; starts draining unless a drain is running (it takes them in its next round). */
  function kick(toDrain: Iterable<number>): void {
    if (stopped) return;
    for (const shard of toDrain) dirty.add(shard);
    if (running !== null || dirty.size === 0) return;
    running = drainDirty().finally(() => {
      running = null;
    });
  }

  const everyShard = () => shards.map((keys) => keys.shard);
  return {
    start() {
      subscriber.on('message', (channel: string) => {
        const shard = shardOfDoorbell.get(channel);
        if (shard !== undefined) kick([shard]);
      });
      subscriber.subscribe(...shardOfDoorbell.keys()).catch((error: unknown) => {
        logger.warn({ err: error }, 'channel outbox: subscribing to the doorbells failed; polling only');
      });
      timer = setInterval(() => kick(everyShard()), options.intervalMs);
      kick(everyShard());
    },
    async close() {
      stopped = true;
      if (timer !== null) clearInterval(timer);
      await running;
    },
  };
}
