import { Redis } from 'ioredis';
import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { Fleet } from './fleet.js';
import { freePort, startRedis, startScript } from './processes.js';
import { CpuMeter } from './proc-stats.js';
import { commandDelta, commandStats } from './redis-stats.js';
import { lineTarget, openWithProgress } from './scenario-helpers.js';

const HEARTBEAT_MS = 1_000;

interface Window {
  heartbeats: number;
  all: number;
  scripts: number;
  redisCores: number;
  serverCores: number;
  byCommand: Record<string, number>;
}

/** Counts Redis commands and CPU over a window of steady heartbeating. */
async function measure(
  ctx: RunContext,
  label: string,
  fleet: Fleet,
  redis: Redis,
  redisPid: number,
  serverPid: number,
  ms: number,
): Promise<Window> {
  const before = await commandStats(redis);
  const sentBefore = (await fleet.stats()).heartbeatsSent;
  const redisCpu = new CpuMeter(redisPid);
  const serverCpu = new CpuMeter(serverPid);
  await ctx.progress.wait(label, ms);
  const redisCores = redisCpu.cores();
  const serverCores = serverCpu.cores();
  const heartbeats = (await fleet.stats()).heartbeatsSent - sentBefore;
  const delta = commandDelta(before, await commandStats(redis));
  return { heartbeats, all: delta.all, scripts: delta.scripts, redisCores, serverCores, byCommand: delta.byCommand };
}

function record(metrics: Record<string, number>, key: string, w: Window, windowMs: number): void {
  metrics[`${key}.heartbeatsPerSecond`] = (w.heartbeats / windowMs) * 1000;
  metrics[`${key}.commandsPerSecond`] = (w.all / windowMs) * 1000;
  metrics[`${key}.commandsPerHeartbeat`] = w.all / w.heartbeats;
  metrics[`${key}.scriptCallsPerHeartbeat`] = w.scripts / w.heartbeats;
  metrics[`${key}.redisCpuPercent`] = w.redisCores * 100;
  metrics[`${key}.serverCpuPercent`] = w.serverCores * 100;
}

/**
 * Scenario 2: write amplification. N connections heartbeating every second; Redis commands per
 * heartbeat from INFO commandstats deltas and Redis CPU from /proc. Our edge alone, then with the
 * sweeper and API running (their fixed background), then the naive one-ZADD-per-heartbeat design.
 */
export async function runWrites(ctx: RunContext): Promise<ScenarioRun> {
  const n = ctx.options.quick ? 2_000 : 10_000;
  const windowMs = ctx.options.quick ? 2_000 : 15_000;
  const settleMs = ctx.options.quick ? 1_000 : 3_000;
  const metrics: Record<string, number> = { connections: n, windowSeconds: windowMs / 1000 };
  const notes: string[] = [];

  {
    const stack = await OurStack.start(ctx, { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS), HEARTBEAT_TIMEOUT_MS: '3000' });
    const fleet = Fleet.start(Fleet.sizeFor(n, 2));
    try {
      const edge = await stack.addEdge();
      await fleet.heartbeat('w', HEARTBEAT_MS);
      await openWithProgress(ctx, fleet, `ours: connect ${n}`, 'w', lineTarget(edge.port), 'w-', n);
      if (!(await stack.waitSessions(n))) notes.push('ours: not every session reached Redis');
      await ctx.progress.wait('ours: settle', settleMs);
      const edgeOnly = await measure(ctx, 'ours (edge only): window', fleet, stack.client, stack.redis.pid, edge.proc.pid, windowMs);
      record(metrics, 'ours.edgeOnly', edgeOnly, windowMs);
      ctx.progress.log(`  ours edge only: ${JSON.stringify(edgeOnly.byCommand)}`);
      await stack.addSweeper();
      await stack.startApi();
      await ctx.progress.wait('ours: settle with sweeper and API', settleMs);
      const full = await measure(ctx, 'ours (full stack): window', fleet, stack.client, stack.redis.pid, edge.proc.pid, windowMs);
      record(metrics, 'ours.full', full, windowMs);
      ctx.progress.log(`  ours full stack: ${JSON.stringify(full.byCommand)}`);
      metrics['ours.full.backgroundCommandsPerSecond'] = ((full.all - edgeOnly.all) / windowMs) * 1000;
      const live = (await fleet.stats()).live;
      if (live < n) notes.push(`ours: ${n - live} connections closed during the run`);
    } finally {
      await fleet.close('w').catch(() => {});
      await fleet.stop();
      await stack.stop();
    }
  }

  {
    const redis = await startRedis(ctx.work, `writes-run${ctx.run}-naive-redis`);
    const client = new Redis(redis.url);
    const port = await freePort();
    const server = await startScript(
      ctx.work,
      'naive-server.js',
      `writes-run${ctx.run}-naive`,
      [String(port), redis.url, 'zadd', '3000', 'naive'],
      port,
    );
    const fleet = Fleet.start(Fleet.sizeFor(n, 2));
    try {
      await fleet.heartbeat('w', HEARTBEAT_MS);
      await openWithProgress(ctx, fleet, `naive ZADD: connect ${n}`, 'w', lineTarget(port), 'w-', n);
      await ctx.progress.wait('naive: settle', settleMs);
      const naive = await measure(ctx, 'naive ZADD per heartbeat: window', fleet, client, redis.pid, server.pid, windowMs);
      record(metrics, 'naive', naive, windowMs);
    } finally {
      await fleet.close('w').catch(() => {});
      await fleet.stop();
      await server.stop('SIGKILL');
      client.disconnect();
      await redis.stop();
    }
  }
  return { metrics, notes };
}
