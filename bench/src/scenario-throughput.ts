import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { Fleet } from './fleet.js';
import { freePort, startRedis, startScript } from './processes.js';
import { CpuMeter } from './proc-stats.js';
import { commandDelta, commandStats } from './redis-stats.js';
import { Redis } from 'ioredis';
import { lineTarget, openWithProgress } from './scenario-helpers.js';
import { sleep } from './clock.js';

interface FloodFigures {
  rate: number;
  p50: number;
  p99: number;
  max: number;
  serverCores: number;
  redisCores: number;
  generatorCores: number;
  commandsPerHeartbeat: number;
}

async function floodMeasured(
  ctx: RunContext,
  label: string,
  fleet: Fleet,
  group: string,
  durationMs: number,
  batch: number,
  depth: number,
  rate: number,
  serverPid: number,
  redisPid: number,
  redis: Redis,
): Promise<FloodFigures> {
  const server = new CpuMeter(serverPid);
  const redisCpu = new CpuMeter(redisPid);
  const generators = fleet.workers.map((w) => new CpuMeter(w.pid));
  const before = await commandStats(redis);
  const flooding = fleet.flood(group, durationMs, batch, depth, rate);
  await ctx.progress.wait(label, durationMs);
  const serverCores = server.cores();
  const redisCores = redisCpu.cores();
  const generatorCores = generators.reduce((sum, m) => sum + m.cores(), 0);
  const result = await flooding;
  const delta = commandDelta(before, await commandStats(redis));
  const figures = {
    rate: (result.answered / result.elapsedMs) * 1000,
    p50: result.histogram.percentile(50),
    p99: result.histogram.percentile(99),
    max: result.histogram.maxMs,
    serverCores,
    redisCores,
    generatorCores,
    commandsPerHeartbeat: delta.all / Math.max(1, result.answered),
  };
  ctx.progress.log(
    `  ${label}: ${Math.round(figures.rate)}/s, server ${(serverCores * 100).toFixed(0)}% CPU, Redis ${(redisCores * 100).toFixed(0)}%, generators ${(generatorCores * 100).toFixed(0)}%, PONG p50 ${figures.p50.toFixed(2)} ms p99 ${figures.p99.toFixed(2)} ms`,
  );
  await sleep(500);
  return figures;
}

function record(metrics: Record<string, number>, key: string, f: FloodFigures): void {
  metrics[`${key}.heartbeatsPerSecond`] = f.rate;
  metrics[`${key}.perCore`] = f.rate / Math.max(0.01, f.serverCores);
  metrics[`${key}.pongP50Ms`] = f.p50;
  metrics[`${key}.pongP99Ms`] = f.p99;
  metrics[`${key}.pongMaxMs`] = f.max;
  metrics[`${key}.serverCpuPercent`] = f.serverCores * 100;
  metrics[`${key}.redisCpuPercent`] = f.redisCores * 100;
  metrics[`${key}.generatorCpuPercent`] = f.generatorCores * 100;
  metrics[`${key}.commandsPerHeartbeat`] = f.commandsPerHeartbeat;
  // Where Redis would be the bottleneck: this rate scaled to one full Redis core.
  metrics[`${key}.redisSaturationPerSecond`] = f.redisCores > 0.005 ? f.rate / f.redisCores : Number.NaN;
}

/**
 * Scenario 3: heartbeat throughput of one edge process. Clients PING as fast as the protocol lets
 * them: pipelined (32 PINGs per write, 2 batches in flight per connection), and lock-step (one PING
 * in flight per connection, one read and one write per heartbeat on both sides). Then a paced run
 * at the target rate for the PONG latency there. The naive design and a plain Node server beside.
 */
export async function runThroughput(ctx: RunContext): Promise<ScenarioRun> {
  const durationMs = ctx.options.quick ? 1_500 : 10_000;
  const pipeConns = ctx.options.quick ? 100 : 200;
  const lockConns = ctx.options.quick ? 200 : 1_000;
  const targetRate = 150_000;
  const metrics: Record<string, number> = { pipelinedConnections: pipeConns, lockstepConnections: lockConns, seconds: durationMs / 1000 };

  {
    const stack = await OurStack.start(ctx, { MAX_FRAMES_PER_SECOND: '1000000' });
    const fleet = Fleet.start(2);
    try {
      const edge = await stack.addEdge();
      await openWithProgress(ctx, fleet, `ours: connect ${pipeConns}`, 'p', lineTarget(edge.port), 'tp-', pipeConns);
      await openWithProgress(ctx, fleet, `ours: connect ${lockConns}`, 'l', lineTarget(edge.port), 'tl-', lockConns);
      const args = [edge.proc.pid, stack.redis.pid, stack.client] as const;
      record(metrics, 'ours.pipelined', await floodMeasured(ctx, 'ours pipelined, closed loop', fleet, 'p', durationMs, 32, 2, 0, ...args));
      record(
        metrics,
        'ours.paced',
        await floodMeasured(ctx, `ours paced at ${targetRate}/s`, fleet, 'p', durationMs, 1, 1, targetRate, ...args),
      );
      record(metrics, 'ours.lockstep', await floodMeasured(ctx, 'ours lock-step, closed loop', fleet, 'l', durationMs, 1, 1, 0, ...args));
    } finally {
      await fleet.close('p').catch(() => {});
      await fleet.close('l').catch(() => {});
      await fleet.stop();
      await stack.stop();
    }
  }

  for (const design of ['naive', 'plain'] as const) {
    const redis = await startRedis(ctx.work, `throughput-run${ctx.run}-${design}-redis`);
    const client = new Redis(redis.url);
    const port = await freePort();
    const server =
      design === 'naive'
        ? await startScript(
            ctx.work,
            'naive-server.js',
            `throughput-run${ctx.run}-naive`,
            [String(port), redis.url, 'zadd', '30000', 'naive'],
            port,
          )
        : await startScript(ctx.work, 'plain-server.js', `throughput-run${ctx.run}-plain`, [String(port)], port);
    const fleet = Fleet.start(2);
    try {
      await openWithProgress(ctx, fleet, `${design}: connect ${pipeConns}`, 'p', lineTarget(port), 'tp-', pipeConns);
      await openWithProgress(ctx, fleet, `${design}: connect ${lockConns}`, 'l', lineTarget(port), 'tl-', lockConns);
      const args = [server.pid, redis.pid, client] as const;
      record(
        metrics,
        `${design}.pipelined`,
        await floodMeasured(ctx, `${design} pipelined, closed loop`, fleet, 'p', durationMs, 32, 2, 0, ...args),
      );
      record(
        metrics,
        `${design}.lockstep`,
        await floodMeasured(ctx, `${design} lock-step, closed loop`, fleet, 'l', durationMs, 1, 1, 0, ...args),
      );
    } finally {
      await fleet.close('p').catch(() => {});
      await fleet.close('l').catch(() => {});
      await fleet.stop();
      await server.stop('SIGKILL');
      client.disconnect();
      await redis.stop();
    }
  }
  return { metrics };
}
