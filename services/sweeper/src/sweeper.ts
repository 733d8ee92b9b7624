import type { PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisContact } from './redis-contact.js';

export const SWEEP_QUEUE = 'sweep';

export interface SweeperOptions {
  intervalMs: number;
  batch: number;
  /** Shards one job sweeps at once. */
  concurrency: number;
  /** Sweep jobs per interval; each sweeps the shards s with s % partitions == its number. */
  partitions: number;
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

/**
 * Sweeps expired sessions. The shards are split into SWEEP_PARTITIONS groups and a BullMQ job
 * scheduler per group enqueues one sweep job per interval; every replica runs a Worker, so each
 * shard is swept once per interval by whichever replica takes its group's job, and the groups spread
 * over the replicas. Few jobs keep BullMQ's own Redis traffic (some tens of commands per job) small
 * next to the sweeps themselves. Sweeps are idempotent in Redis (a session is
 * removed and reported by exactly one script call), so a job that runs twice after a stalled
 * worker is recovered writes no second event.
 *
 * Stalled jobs: a worker holds a lock on its job for `lockDuration` (renewed at half of it). If the
 * replica dies, another replica finds the job stalled after at most `stalledInterval` and runs it
 * again (up to `maxStalledCount` times, then it fails and the next scheduled job sweeps anyway).
 * The following intervals' jobs are not held up by a stalled one.
 */
export function createSweeper(deps: SweeperDeps): Sweeper {
  const { store, logger, options } = deps;
  const registers = [deps.registry];
  const sweepSeconds = new Histogram({
    name: 'presence_sweep_seconds', help: 'Duration of one shard sweep job', registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  });
  const expired = new Counter({ name: 'presence_sweep_sessions_expired_total', help: 'Sessions removed by sweeps', registers });
  const offline = new Counter({
    name: 'presence_events_total', help: 'Events written by this process, by type and reason', labelNames: ['type', 'reason'], registers,
  });
  const held = new Counter({ name: 'presence_sweep_held_total', help: 'Sweep jobs skipped while expiry was held off after an outage', registers });
  new Gauge({
    name: 'presence_sweep_holdoffs', help: 'Hold-off periods started by this replica', registers,
    collect() {
      this.set(deps.contact.holdoffs);
    },
  });
  const lockDuration = Math.max(2_000, options.intervalMs * 4);
  const queue = new Queue<SweepJob>(SWEEP_QUEUE, { connection: deps.queueConnection, prefix: store.keys.queuePrefix });
  let worker: Worker<SweepJob> | null = null;

  /** Sweeps one shard in bounded batches; a backlog larger than one interval's worth waits for the next job. */
  async function sweepShard(shard: number): Promise<void> {
    const started = performance.now();
    let removed = 0;
    let wentOffline = 0;
    for (;;) {
      const result = await store.sweepShard(shard, options.batch);
      removed += result.removed;
      wentOffline += result.offline;
      if (!result.more || performance.now() - started > options.intervalMs) break;
    }
    sweepSeconds.observe((performance.now() - started) / 1000);
    if (removed > 0) {
      expired.inc(removed);
      offline.inc({ type: 'offline', reason: 'expired' }, wentOffline);
      logger.info({ shard, removed, offline: wentOffline }, 'expired sessions swept');
    }
  }

  async function sweep(job: Job<SweepJob>): Promise<{ shards: number; held?: boolean }> {
    if (deps.contact.holdingFor() > 0) {
      held.inc();
      return { shards: 0, held: true };
    }
    const { partition, partitions } = job.data;
    const shards: number[] = [];
    for (let shard = partition; shard < store.keys.shardCount; shard += partitions) shards.push(shard);
    for (let i = 0; i < shards.length; i += options.concurrency) {
      await Promise.all(shards.slice(i, i + options.concurrency).map(sweepShard));
    }
    return { shards: shards.length };
  }

  return {
    async schedule() {
      const partitions = Math.min(options.partitions, store.keys.shardCount);
      for (let partition = 0; partition < partitions; partition += 1) {
        await queue.upsertJobScheduler(
          `partition-${partition}-of-${partitions}`,
          { every: options.intervalMs },
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
      await this.schedule();
      worker = new Worker<SweepJob>(SWEEP_QUEUE, sweep, {
        connection: deps.workerConnection,
        prefix: store.keys.queuePrefix,
        name: options.workerName,
        // One replica alone can run every partition's job at once.
        concurrency: options.partitions,
        lockDuration,
        stalledInterval: lockDuration,
        maxStalledCount: 2,
      });
      worker.on('failed', (job, err) => logger.warn({ partition: job?.data.partition, err }, 'sweep job failed'));
      worker.on('error', (err) => logger.warn({ err }, 'sweep worker error'));
      logger.info({ shards: store.keys.shardCount, intervalMs: options.intervalMs, lockDuration }, 'sweeper started');
    },

    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
