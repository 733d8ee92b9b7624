import { RedisClock, isRedisUnavailable, type PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { RedisContact } from './redis-contact.js';
import type { SweepMetrics } from './sweep-metrics.js';

export interface ShardSweepOptions {
  /** Longest a shard waits between two sweeps (it is swept sooner when its earliest deadline comes first). */
  intervalMs: number;
  /** Sessions per sweep call. */
  batch: number;
  /** Last-seen times older than this are forgotten (by a sweep now and then, not every one). */
  lastSeenTtlMs: number;
  /** A sweep call that reaches Redis this long after it was sent sweeps nothing and starts a hold-off. */
  lateAfterMs: number;
}

/** Margin after a deadline before its shard is swept (timers may fire a little early on some platforms). */
const DEADLINE_MARGIN_MS = 2;
/** Last-seen times are trimmed at least this often per shard, and at most a tenth of their TTL late. */
const TRIM_EVERY_MAX_MS = 60_000;
const TRIM_LATENESS_OF_TTL = 0.1;
/** A failing Redis is logged once in this period (an outage is said by RedisReachability anyway). */
const FAILURE_LOG_EVERY_MS = 10_000;

/**
 * Sweeps shards and knows, per shard and on this process's monotonic clock, when each is next due
 * (its earliest deadline, or an interval) and when its last-seen times were last trimmed. A shard
 * is swept by one call at a time in this process: two jobs of a group that overlap share it.
 */
export class ShardSweeps {
  private readonly dueAt = new Map<number, number>();
  private readonly trimmedAt = new Map<number, number>();
  private readonly inFlight = new Map<number, Promise<void>>();
  /**
   * Anchored at when each sweep call was sent, so the estimate errs towards a later Redis time (by
   * one round trip) and a reply this process handled late can't make the next call look late.
   */
  private readonly clock = new RedisClock();
  private readonly trimEveryMs: number;
  private failureLoggedAt = -Infinity;

  constructor(
    private readonly deps: {
      store: PresenceStore;
      contact: RedisContact;
      metrics: SweepMetrics;
      logger: Logger;
      options: ShardSweepOptions;
    },
  ) {
    const { intervalMs, lastSeenTtlMs } = deps.options;
    this.trimEveryMs = Math.min(TRIM_EVERY_MAX_MS, Math.max(intervalMs, Math.floor(lastSeenTtlMs * TRIM_LATENESS_OF_TTL)));
  }

  /** Reads Redis's time once, so the first sweep call can already tell whether it came late. */
  async start(): Promise<void> {
    this.clock.anchor(await this.deps.store.now(), performance.now());
  }

  /** The shards among `shards` due at the monotonic moment `now`. */
  due(shards: readonly number[], now: number): number[] {
    return shards.filter((shard) => (this.dueAt.get(shard) ?? 0) <= now);
  }

  /** The monotonic moment the first of `shards` falls due. */
  nextDueAt(shards: readonly number[]): number {
    return Math.min(...shards.map((shard) => this.dueAt.get(shard) ?? 0));
  }

  /** Sweeps a shard, or waits for the sweep of it already under way. */
  sweep(shard: number): Promise<void> {
    let running = this.inFlight.get(shard);
    if (running === undefined) {
      running = this.sweepNow(shard).finally(() => this.inFlight.delete(shard));
      this.inFlight.set(shard, running);
    }
    return running;
  }

  /** Sweeps one shard in bounded batches (at most an interval's worth), then notes when it is next due. */
  private async sweepNow(shard: number): Promise<void> {
    const { store, contact, metrics, logger, options } = this.deps;
    const started = performance.now();
    const trim = started - (this.trimmedAt.get(shard) ?? -Infinity) >= this.trimEveryMs;
    let removed = 0;
    let wentOffline = 0;
    try {
      for (;;) {
        const sentAt = performance.now();
        const redisNow = this.clock.at(sentAt);
        const notAfter = redisNow === null ? null : redisNow + options.lateAfterMs;
        const result = await store.sweepShard(shard, options.batch, { trimLastSeen: trim, notAfter });
        this.clock.anchor(result.now, sentAt);
        if (result.late) {
          contact.reportStall(`a sweep reached Redis ${Math.round(performance.now() - sentAt)} ms after it was sent`);
          this.dueAt.set(shard, performance.now());
          break;
        }
        removed += result.removed;
        wentOffline += result.offline;
        const now = performance.now();
        if (result.more && now - started <= options.intervalMs) continue;
        if (trim && !result.more) this.trimmedAt.set(shard, started);
        // The next deadline is a Redis time: how far it lies past this reply's Redis time is how long to wait.
        const untilNext = result.more ? 0 : result.nextDeadline === null ? Infinity : result.nextDeadline - result.now + DEADLINE_MARGIN_MS;
        this.dueAt.set(shard, now + Math.min(options.intervalMs, Math.max(0, untilNext)));
        break;
      }
    } catch (err) {
      metrics.failures.inc();
      this.dueAt.set(shard, performance.now() + options.intervalMs);
      if (!isRedisUnavailable(err) && performance.now() - this.failureLoggedAt > FAILURE_LOG_EVERY_MS) {
        this.failureLoggedAt = performance.now();
        logger.warn({ shard, err }, 'sweep failed; will retry');
      }
    }
    metrics.sweepSeconds.observe((performance.now() - started) / 1000);
    if (removed > 0) {
      metrics.expired.inc(removed);
      metrics.offline.inc(wentOffline);
      logger.info({ shard, removed, offline: wentOffline }, 'expired sessions swept');
    }
  }
}
