import { Redis } from 'ioredis';
import { waitUntil } from './clock.js';
import type { BenchOptions } from './options.js';
import { startRedis, startService, type RedisHandle, type ServiceHandle, type Workdir } from './processes.js';
import type { Progress } from './progress.js';
import { registeredSessions } from './redis-stats.js';

export const SHARDS = 16;

/** What one run of a scenario reports: flat numeric metrics, plus raw samples for charts. */
export interface ScenarioRun {
  metrics: Record<string, number>;
  samples?: Record<string, number[]>;
  notes?: string[];
}

export interface RunContext {
  options: BenchOptions;
  work: Workdir;
  profileDir: string;
  progress: Progress;
  /** 1-based run number of this scenario. */
  run: number;
  scenario: string;
}

/** Node flags for a service process of this run (CPU profiles when --profile). */
export function nodeArgsFor(ctx: RunContext, name: string): string[] {
  if (!ctx.options.profile) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, `--cpu-prof-name=${ctx.scenario}-${name}-run${ctx.run}.cpuprofile`];
}

/**
 * Our services as processes (like test/support/stack.ts): one Redis of the run's own, edges,
 * sweepers, the API and webhooks workers, with LOG_LEVEL=warn so that logging stays off the hot path.
 */
export class OurStack {
  readonly redis: RedisHandle;
  readonly client: Redis;
  readonly env: Record<string, string>;
  readonly prefix: string;
  readonly edges: ServiceHandle[] = [];
  readonly sweepers: ServiceHandle[] = [];
  readonly webhooks: ServiceHandle[] = [];
  api: ServiceHandle | null = null;
  private readonly ctx: RunContext;
  private edgeCount = 0;
  private sweeperCount = 0;
  private webhooksCount = 0;

  private constructor(ctx: RunContext, redis: RedisHandle, env: Record<string, string>, prefix: string) {
    this.ctx = ctx;
    this.redis = redis;
    this.client = new Redis(redis.url, { maxRetriesPerRequest: 2 });
    this.env = env;
    this.prefix = prefix;
  }

  static async start(ctx: RunContext, env: Record<string, string> = {}, redisArgs: string[] = []): Promise<OurStack> {
    const redis = await startRedis(ctx.work, `${ctx.scenario}-run${ctx.run}-redis`, redisArgs);
    const prefix = `bench${ctx.run}${ctx.scenario}`;
    return new OurStack(
      ctx,
      redis,
      {
        REDIS_URL: redis.url,
        KEY_PREFIX: prefix,
        SHARD_COUNT: String(SHARDS),
        LOG_LEVEL: 'warn',
        EDGE_HOST: '127.0.0.1',
        API_HOST: '127.0.0.1',
        SWEEPER_HOST: '127.0.0.1',
        // The bench's Redis is fresh and never goes away: there is no outage to hold expiry off for.
        SWEEP_HOLDOFF_MS: '200',
        // Stops are quick (or, with --profile, graceful so that the profile is written).
        DRAIN_WINDOW_MS: '0',
        DRAIN_TIMEOUT_MS: '2000',
        ...env,
      },
      prefix,
    );
  }

  private processName(kind: string, index: number): string {
    return `${this.ctx.scenario}-run${this.ctx.run}-${kind}${index}`;
  }

  async addEdge(env: Record<string, string> = {}): Promise<ServiceHandle> {
    // Numbered before any await: edges may be added concurrently.
    const index = this.edgeCount++;
    const name = this.processName('edge', index);
    const edge = await startService(
      this.ctx.work,
      'edge',
      name,
      { ...this.env, ...env },
      nodeArgsFor(this.ctx, `edge${index}`),
      this.ctx.options.edgeNodeFlags,
    );
    this.edges[index] = edge;
    return edge;
  }

  async addSweeper(env: Record<string, string> = {}): Promise<ServiceHandle> {
    const index = this.sweeperCount++;
    const name = this.processName('sweeper', index);
    const sweeper = await startService(this.ctx.work, 'sweeper', name, { ...this.env, ...env }, nodeArgsFor(this.ctx, `sweeper${index}`));
    this.sweepers[index] = sweeper;
    return sweeper;
  }

  async addWebhooks(env: Record<string, string> = {}): Promise<ServiceHandle> {
    const index = this.webhooksCount++;
    const worker = await startService(
      this.ctx.work,
      'webhooks',
      this.processName('webhooks', index),
      { ...this.env, ...env },
      nodeArgsFor(this.ctx, `webhooks${index}`),
    );
    this.webhooks[index] = worker;
    return worker;
  }

  async startApi(env: Record<string, string> = {}): Promise<ServiceHandle> {
    this.api = await startService(this.ctx.work, 'api', this.processName('api', 0), { ...this.env, ...env }, nodeArgsFor(this.ctx, 'api'));
    return this.api;
  }

  sessions(): Promise<number> {
    return registeredSessions(this.client, this.prefix, SHARDS);
  }

  /** Waits until Redis holds `count` sessions (the edges' batched adds have landed). */
  async waitSessions(count: number, timeoutMs = 30_000): Promise<boolean> {
    return waitUntil(async () => (await this.sessions()) >= count, timeoutMs, 100);
  }

  async stop(): Promise<void> {
    const signal = this.ctx.options.profile ? 'SIGTERM' : 'SIGKILL';
    const all = [...this.edges, ...this.sweepers, ...this.webhooks, ...(this.api === null ? [] : [this.api])].filter(
      (s) => s !== undefined,
    );
    await Promise.all(all.map((s) => s.proc.stop(signal)));
    this.client.disconnect();
    await this.redis.stop();
  }
}
