import { WakeableSleep } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import type { Job } from 'bullmq';
import type { Counter } from 'prom-client';
import type { RedisContact } from './redis-contact.js';
import type { ShardSweeps } from './shard-sweeps.js';

/** A job's data: sweep the shards s with s % partitions == partition. */
export interface SweepJob {
  partition: number;
  partitions: number;
}

export interface SweepJobOptions {
  /** Longest a shard waits between two sweeps. */
  intervalMs: number;
  /** How long one job keeps sweeping before the group's next scheduled job takes over. */
  jobMs: number;
  /** Shards one job sweeps at once. */
  concurrency: number;
}

/**
 * The group's next job is due jobMs after this one started, and may start a little late or on another
 * replica: a job runs this many jobMs, so that the group is never left unswept at a hand-over.
 */
const JOB_RUNS_FOR_JOBS = 1.5;

/**
 * Runs sweep jobs: each sweeps its group's shards as they fall due, until the group's next job takes
 * over. When that next job starts on this replica, the older one stops at once.
 */
export class SweepJobs {
  private readonly pause = new WakeableSleep();
  /** The job of each group this process runs now; an older one stops when a newer one starts. */
  private readonly current = new Map<number, { done: boolean }>();
  private stopping = false;

  constructor(
    private readonly deps: {
      sweeps: ShardSweeps;
      shardCount: number;
      contact: RedisContact;
      held: Counter;
      logger: Logger;
      options: SweepJobOptions;
    },
  ) {}

  async run(job: Job<SweepJob>): Promise<{ shards: number; sweeps: number }> {
    const { sweeps, contact, options } = this.deps;
    const { partition, partitions } = job.data;
    const shards: number[] = [];
    for (let shard = partition; shard < this.deps.shardCount; shard += partitions) shards.push(shard);
    const endsAt = performance.now() + options.jobMs * JOB_RUNS_FOR_JOBS;
    const handOver = { done: false };
    const previous = this.current.get(partition);
    if (previous !== undefined) previous.done = true;
    this.current.set(partition, handOver);
    this.pause.wake();
    this.deps.logger.debug({ partition, jobId: job.id }, 'sweep job started');
    let swept = 0;
    while (!this.stopping && !handOver.done && performance.now() < endsAt) {
      const holding = contact.holdingFor();
      if (holding > 0) {
        this.deps.held.inc();
        await this.pause.sleep(Math.min(holding, options.intervalMs, endsAt - performance.now()));
        continue;
      }
      const due = sweeps.due(shards, performance.now());
      for (let i = 0; i < due.length; i += options.concurrency) {
        await Promise.all(due.slice(i, i + options.concurrency).map((shard) => sweeps.sweep(shard)));
      }
      swept += due.length;
      const wait = Math.min(sweeps.nextDueAt(shards), endsAt) - performance.now();
      if (wait > 0) await this.pause.sleep(wait);
    }
    if (this.current.get(partition) === handOver) this.current.delete(partition);
    return { shards: shards.length, sweeps: swept };
  }

  /** Ends every job under way after its current sweeps. */
  stop(): void {
    this.stopping = true;
    this.pause.wake();
  }
}
