import { isRedisUnavailable, type PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { Registry } from 'prom-client';
import type { RedisContact } from './redis-contact.js';
import { ShardSweeps, type ShardSweepOptions } from './shard-sweeps.js';
import { SweepJobs, type SweepJob, type SweepJobOptions } from './sweep-job.js';
import { createSweepMetrics } from './sweep-metrics.js';

export const SWEEP_QUEUE = 'sweep';

export interface SweeperOptions extends ShardSweepOptions, SweepJobOptions {
  /** Sweep jobs at a time; each sweeps the shards s with s % partitions == its number. */
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

/** A job's lock lasts two intervals, and never less than this. */
const MIN_LOCK_MS = 2_000;
/** Times a stalled job (its replica died) is run again by another replica. */
const MAX_STALLED_COUNT = 2;
/** Failed jobs kept in Redis to look at. */
const FAILED_JOBS_KEPT = 100;
const SCHEDULER_ID = /^partition-\d+-of-\d+$/;

/**
 * Sweeps expired sessions. The shards are split into SWEEP_PARTITIONS groups; a BullMQ job
 * scheduler per group enqueues one job every SWEEP_JOB_MS, and every replica runs a Worker, so each
 * group is swept by whichever replica holds its current job, and the groups spread over the
 * replicas. A job keeps sweeping its shards until the group's next job starts (on this replica; or
 * for 1.5 × SWEEP_JOB_MS, so a hand-over to another replica leaves no gap): each shard is swept when its
 * earliest deadline passes (the sweep script reports it), and at least every SWEEP_INTERVAL_MS in
 * case a session with an earlier deadline was added meanwhile (sweep-job.ts, shard-sweeps.ts). So an
 * expired session is usually swept within a few ms of its deadline, an idle shard costs one cheap
 * script call per interval, and BullMQ's own Redis traffic (some tens of commands per job) is paid
 * once per job, not per sweep. Sweeps are idempotent in Redis (a session is removed and reported by
 * exactly one script call), so two jobs sweeping the same shard write no second event.
 *
 * Stalled jobs: a worker holds a lock on its job for `lockDuration` (renewed at half of it). If the
 * replica dies, another replica finds the job stalled after at most `stalledInterval` and runs it
 * again (up to `maxStalledCount` times); the group's next scheduled job starts on time either way.
 */
export function createSweeper(deps: SweeperDeps): Sweeper {
  const { store, logger, options } = deps;
  const metrics = createSweepMetrics(deps.registry, deps.contact);
  const sweeps = new ShardSweeps({ store, contact: deps.contact, metrics, logger, options });
  const jobs = new SweepJobs({ sweeps, shardCount: store.keys.shardCount, contact: deps.contact, held: metrics.held, logger, options });
  const lockDuration = Math.max(MIN_LOCK_MS, options.intervalMs * 2);
  const partitions = Math.min(options.partitions, store.keys.shardCount);
  const queue = new Queue<SweepJob>(SWEEP_QUEUE, { connection: deps.queueConnection, prefix: store.keys.queuePrefix });
  // Redis out of reach is said once per process (RedisReachability, in main): debug here. Without a
  // listener BullMQ writes each error to stderr, stack and all, between the JSON log lines.
  const onBullError = (what: string) => (err: Error) => {
    if (isRedisUnavailable(err)) logger.debug({ error: err.message }, what);
    else logger.warn({ err }, what);
  };
  queue.on('error', onBullError('sweep queue error'));
  let worker: Worker<SweepJob> | null = null;

  return {
    async schedule() {
      for (let partition = 0; partition < partitions; partition += 1) {
        const data = { partition, partitions };
        const opts = { removeOnComplete: true, removeOnFail: FAILED_JOBS_KEPT };
        await queue.upsertJobScheduler(`partition-${partition}-of-${partitions}`, { every: options.jobMs }, { name: 'sweep', data, opts });
      }
      // Schedulers of another partitioning (an earlier SWEEP_PARTITIONS) would sweep twice as often.
      for (const { key } of await queue.getJobSchedulers()) {
        if (!SCHEDULER_ID.test(key) || !key.endsWith(`-of-${partitions}`)) await queue.removeJobScheduler(key);
      }
    },

    async start() {
      await sweeps.start();
      await this.schedule();
      worker = new Worker<SweepJob>(SWEEP_QUEUE, (job) => jobs.run(job), {
        connection: deps.workerConnection,
        prefix: store.keys.queuePrefix,
        name: options.workerName,
        // One replica alone can run every partition's job at once, also while jobs hand over.
        concurrency: options.partitions * 2,
        lockDuration,
        stalledInterval: lockDuration,
        maxStalledCount: MAX_STALLED_COUNT,
      });
      worker.on('failed', (job, err) => logger.warn({ partition: job?.data.partition, err }, 'sweep job failed'));
      worker.on('error', onBullError('sweep worker error'));
      logger.info({ shards: store.keys.shardCount, intervalMs: options.intervalMs, jobMs: options.jobMs, lockDuration }, 'sweeper started');
    },

    async close() {
      jobs.stop();
      await worker?.close();
      await queue.close();
    },
  };
}
