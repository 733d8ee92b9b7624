import type { PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisContact } from './redis-contact.js';

export const SWEEP_QUEUE = 'sweep';

export interface SweeperOptions {
  /** Longest a shard waits between two sweeps (it is swept sooner when its earliest deadline comes first). */
  intervalMs: number;
  /** How long one BullMQ job keeps sweeping its shards before the next scheduled job takes over. */
  jobMs: number;
  batch: number;
  /** Shards one job sweeps at once. */
  concurrency: number;
  /** Sweep jobs at a time; each sweeps the shards s with s % partitions == its number. */
  partitions: number;
  /** Last-seen times older than this are forgotten (by a sweep now and then, not every one). */
  lastSeenTtlMs: number;
  /**
   * A sweep call that reaches Redis this long after it was sent sweeps nothing (it waited through an
   * outage in the client's queue, or Redis stalled) and starts a hold-off instead.
   */
  lateAfterMs: number;
  workerName: string;
}

export interface SweeperDeps {
  store: PresenceStore;
  /** Connections for BullMQ (they must not fail fast: BullMQ blocks on one of them). */
  queueConnection: ConnectionOptions;
  workerConnection: ConnectionOptions;
  logger: Logger;
  registry: Registry;
  options: SweeperOptions;
  /** Says when expiring sessions is unsafe (just after an outage). */
  contact: RedisContact;
}

export interface Sweeper {
  start(): Promise<void>;
  /** (Re)creates the job schedulers; idempotent. Called again after Redis comes back (it may be empty). */
  schedule(): Promise<void>;
  close(): Promise<void>;
}

interface SweepJob {
  partition: number;
  partitions: number;
}

/** Margin after a deadline before its shard is swept (timers may fire a little early on some platforms). */
const DEADLINE_MARGIN_MS = 2;

/**
 * Sweeps expired sessions. The shards are split into SWEEP_PARTITIONS groups; a BullMQ job
 * scheduler per group enqueues one job every SWEEP_JOB_MS, and every replica runs a Worker, so each
 * group is swept by whichever replica holds its current job, and the groups spread over the
 * replicas. A job keeps sweeping its shards until the group's next job starts (on this replica; or
 * for 1.5 × SWEEP_JOB_MS, so a hand-over to another replica leaves no gap): each shard is swept when its
 * earliest deadline passes (the sweep script reports it), and at least every SWEEP_INTERVAL_MS in
 * case a session with an earlier deadline was added meanwhile. So an expired session is usually
 * swept within a few ms of its deadline, an idle shard costs one cheap script call per interval, and
 * BullMQ's own Redis traffic (some tens of commands per job) is paid once per job, not per sweep.
 * Sweeps are idempotent in Redis (a session is removed and reported by exactly one script call), so
 * two jobs sweeping the same shard (an overlap at a hand-over, a stalled job run again) write no
 * second event.
 *
 * Stalled jobs: a worker holds a lock on its job for `lockDuration` (renewed at half of it). If the
 * replica dies, another replica finds the job stalled after at most `stalledInterval` and runs it
 * again (up to `maxStalledCount` times); the group's next scheduled job starts on time either way.
 */
export function createSweeper(deps: SweeperDeps): Sweeper {
  const { store, logger, options } = deps;
  const registers = [deps.registry];
  const sweepSeconds = new Histogram({
    name: 'presence_sweep_seconds', help: 'Duration of one shard sweep (all its batches)', registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const expired = new Counter({ name: 'presence_sweep_sessions_expired_total', help: 'Sessions removed by sweeps', registers });
  const offline = new Counter({
    name: 'presence_events_total', help: 'Events written by this process, by type and reason', labelNames: ['type', 'reason'], registers,
  });
  const held = new Counter({ name: 'presence_sweep_held_total', help: 'Sweeps skipped while expiry was held off after an outage', registers });
  const failures = new Counter({ name: 'presence_sweep_failures_total', help: 'Shard sweeps that failed (Redis errors)', registers });
  new Gauge({
    name: 'presence_sweep_holdoffs', help: 'Hold-off periods started by this replica', registers,
    collect() {
      this.set(deps.contact.holdoffs);
    },
  });
  const lockDuration = Math.max(2_000, options.intervalMs * 2);
  /** Last-seen times are trimmed this often per shard: a tenth of their TTL late at most. */
  const trimEveryMs = Math.min(60_000, Math.max(options.intervalMs, Math.floor(options.lastSeenTtlMs / 10)));
  const queue = new Queue<SweepJob>(SWEEP_QUEUE, { connection: deps.queueConnection, prefix: store.keys.queuePrefix });
  let worker: Worker<SweepJob> | null = null;
  let stopping = false;
  const wakers = new Set<() => void>();
  /** Per shard, on this process's monotonic clock: when it is next due, and when last-seen was last trimmed. */
  const dueAt = new Map<number, number>();
  const trimmedAt = new Map<number, number>();
  const inFlight = new Map<number, Promise<void>>();
  /** The job of each group this process runs now; an older one stops when a newer one starts. */
  const current = new Map<number, { done: boolean }>();
  let failureLogged = 0;
  /**
   * Redis time at a moment of our monotonic clock, from the latest reply: Redis now ≈ redisAt +
   * (mono - monoAt). Anchored at when the call was sent, so the estimate errs towards a later Redis
   * time (by one round trip) and a reply this process handled late can't make the next call look late.
   */
  let clock: { redisAt: number; monoAt: number } | null = null;

  /** Sleeps until `ms` have passed or the sweeper stops. */
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      wakers.add(wake);
    });
  }

  /** Sweeps one shard in bounded batches (at most an interval's worth), then notes when it is next due. */
  async function sweepShard(shard: number): Promise<void> {
    const started = performance.now();
    const trim = started - (trimmedAt.get(shard) ?? -Infinity) >= trimEveryMs;
    let removed = 0;
    let wentOffline = 0;
    try {
      for (;;) {
        const sentAt = performance.now();
        const notAfter = clock === null ? null : clock.redisAt + (sentAt - clock.monoAt) + options.lateAfterMs;
        const result = await store.sweepShard(shard, options.batch, { trimLastSeen: trim, notAfter });
        clock = { redisAt: result.now, monoAt: sentAt };
        if (result.late) {
          deps.contact.reportStall(`a sweep reached Redis ${Math.round(performance.now() - sentAt)} ms after it was sent`);
          dueAt.set(shard, performance.now());
          break;
        }
        removed += result.removed;
        wentOffline += result.offline;
        const now = performance.now();
        if (result.more && now - started <= options.intervalMs) continue;
        if (trim && !result.more) trimmedAt.set(shard, started);
        // The next deadline in Redis time, turned into our clock through the Redis time of this reply.
        const untilNext = result.more ? 0 : result.nextDeadline === null ? Infinity : result.nextDeadline - result.now + DEADLINE_MARGIN_MS;
        dueAt.set(shard, now + Math.min(options.intervalMs, Math.max(0, untilNext)));
        break;
      }
    } catch (err) {
      failures.inc();
      dueAt.set(shard, performance.now() + options.intervalMs);
      if (performance.now() - failureLogged > 10_000) {
        failureLogged = performance.now();
        logger.warn({ shard, err }, 'sweep failed; will retry');
      }
    }
    sweepSeconds.observe((performance.now() - started) / 1000);
    if (removed > 0) {
      expired.inc(removed);
      offline.inc({ type: 'offline', reason: 'expired' }, wentOffline);
      logger.info({ shard, removed, offline: wentOffline }, 'expired sessions swept');
    }
  }

  /** One job: sweeps the group's shards as they fall due, until the group's next job takes over. */
  async function sweep(job: Job<SweepJob>): Promise<{ shards: number; sweeps: number }> {
    const { partition, partitions } = job.data;
    const shards: number[] = [];
    for (let shard = partition; shard < store.keys.shardCount; shard += partitions) shards.push(shard);
    // The group's next job is due jobMs after this one started, and may start a little late or on
    // another replica: run half a job longer so that the group is never left unswept at a hand-over.
    // When the next job starts here, this one stops at once.
    const endsAt = performance.now() + options.jobMs * 1.5;
    const handOver = { done: false };
    const previous = current.get(partition);
    if (previous !== undefined) previous.done = true;
    current.set(partition, handOver);
    for (const wake of [...wakers]) wake();
    logger.debug({ partition, jobId: job.id }, 'sweep job started');
    let sweeps = 0;
    while (!stopping && !handOver.done && performance.now() < endsAt) {
      const holding = deps.contact.holdingFor();
      if (holding > 0) {
        held.inc();
        await sleep(Math.min(holding, options.intervalMs, endsAt - performance.now()));
        continue;
      }
      const now = performance.now();
      const due = shards.filter((shard) => (dueAt.get(shard) ?? 0) <= now);
      for (let i = 0; i < due.length; i += options.concurrency) {
        await Promise.all(due.slice(i, i + options.concurrency).map(sweepShardOnce));
      }
      sweeps += due.length;
      const next = Math.min(...shards.map((shard) => dueAt.get(shard) ?? 0));
      const wait = Math.min(next, endsAt) - performance.now();
      if (wait > 0) await sleep(wait);
    }
    if (current.get(partition) === handOver) current.delete(partition);
    return { shards: shards.length, sweeps };
  }

  /** Sweeps a shard, or waits for the sweep of it already under way (two jobs of a group overlap). */
  function sweepShardOnce(shard: number): Promise<void> {
    let running = inFlight.get(shard);
    if (running === undefined) {
      running = sweepShard(shard).finally(() => inFlight.delete(shard));
      inFlight.set(shard, running);
    }
    return running;
  }

  return {
    async schedule() {
      const partitions = Math.min(options.partitions, store.keys.shardCount);
      for (let partition = 0; partition < partitions; partition += 1) {
        await queue.upsertJobScheduler(
          `partition-${partition}-of-${partitions}`,
          { every: options.jobMs },
          { name: 'sweep', data: { partition, partitions }, opts: { removeOnComplete: true, removeOnFail: 100 } },
        );
      }
      // Schedulers of another partitioning (an earlier SWEEP_PARTITIONS) would sweep twice as often.
      for (const scheduler of await queue.getJobSchedulers()) {
        const key = scheduler.key;
        if (!/^partition-\d+-of-\d+$/.test(key) || !key.endsWith(`-of-${partitions}`)) await queue.removeJobScheduler(key);
      }
    },

    async start() {
      const now = await store.now();
      clock = { redisAt: now, monoAt: performance.now() };
      await this.schedule();
      worker = new Worker<SweepJob>(SWEEP_QUEUE, sweep, {
        connection: deps.workerConnection,
        prefix: store.keys.queuePrefix,
        name: options.workerName,
        // One replica alone can run every partition's job at once, also while jobs hand over.
        concurrency: options.partitions * 2,
        lockDuration,
        stalledInterval: lockDuration,
        maxStalledCount: 2,
      });
      worker.on('failed', (job, err) => logger.warn({ partition: job?.data.partition, err }, 'sweep job failed'));
      worker.on('error', (err) => logger.warn({ err }, 'sweep worker error'));
      logger.info({ shards: store.keys.shardCount, intervalMs: options.intervalMs, jobMs: options.jobMs, lockDuration }, 'sweeper started');
    },

    async close() {
      stopping = true;
      for (const wake of [...wakers]) wake();
      await worker?.close();
      await queue.close();
    },
  };
}
