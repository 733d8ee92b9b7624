import { sleep } from './clock.js';
import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { Fleet } from './fleet.js';
import type { HttpLoadCommand, HttpLoadResult } from './http-load-worker.js';
import { IpcWorker } from './ipc-worker.js';
import { CpuMeter } from './proc-stats.js';
import { lineTarget, openWithProgress } from './scenario-helpers.js';
import { LatencyHistogram } from './stats.js';

/**
 * Scenario 6: the HTTP API under heartbeat load (N clients PINGing every second): single-client
 * GET /v1/presence/:id at a fixed 2,000 req/s and flat out, and a 1000-id POST /v1/presence/query
 * at a fixed rate and flat out (autocannon in a process of its own), after a few seconds of each
 * kind of request to warm the API process up.
 */
export async function runApi(ctx: RunContext): Promise<ScenarioRun> {
  const n = ctx.options.quick ? 2_000 : 10_000;
  const seconds = ctx.options.quick ? 2 : 10;
  const metrics: Record<string, number> = { connections: n, seconds };
  const stack = await OurStack.start(ctx, { HEARTBEAT_INTERVAL_MS: '1000', HEARTBEAT_TIMEOUT_MS: '3000' });
  const fleet = Fleet.start(Fleet.sizeFor(n, 2));
  const cannon = new IpcWorker<HttpLoadCommand>('http-load-worker.js', 'autocannon');
  try {
    const edge = await stack.addEdge();
    await stack.addSweeper();
    const api = await stack.startApi();
    await fleet.heartbeat('api', 1_000);
    await openWithProgress(ctx, fleet, `connect ${n}`, 'api', lineTarget(edge.port), 'api-', n);
    await stack.waitSessions(n);
    await sleep(1_000);
    const url = `http://127.0.0.1:${api.httpPort}`;
    const ids = Array.from({ length: n }, (_, i) => `api-${i}`);
    const paths = ids.slice(0, 5_000).map((id) => `/v1/presence/${id}`);
    const bulkBody = JSON.stringify({ clientIds: Array.from({ length: 1_000 }, (_, i) => ids[(i * 7) % n]) });
    const runs: [string, Extract<HttpLoadCommand, { cmd: 'run' }>][] = [
      ['get2000', { cmd: 'run', url, method: 'GET', paths, body: null, connections: 20, durationSeconds: seconds, overallRate: 2_000 }],
      ['getMax', { cmd: 'run', url, method: 'GET', paths, body: null, connections: 20, durationSeconds: seconds, overallRate: 0 }],
      [
        'bulk100',
        {
          cmd: 'run',
          url: `${url}/v1/presence/query`,
          method: 'POST',
          paths: ['/v1/presence/query'],
          body: bulkBody,
          connections: 4,
          durationSeconds: seconds,
          overallRate: 100,
        },
      ],
      [
        'bulkMax',
        {
          cmd: 'run',
          url: `${url}/v1/presence/query`,
          method: 'POST',
          paths: ['/v1/presence/query'],
          body: bulkBody,
          connections: 4,
          durationSeconds: seconds,
          overallRate: 0,
        },
      ],
    ];
    // Warm-up, not measured: a fresh API process runs its first thousands of requests through
    // Node's interpreter and baseline compilers; the figures are for a process in service.
    const warmSeconds = ctx.options.quick ? 1 : 3;
    for (const [, command] of [runs[0], runs[2]] as [string, Extract<HttpLoadCommand, { cmd: 'run' }>][]) {
      const running = cannon.call<HttpLoadResult>({ ...command, durationSeconds: warmSeconds });
      await ctx.progress.wait(`warm-up: ${command.method}`, warmSeconds * 1000);
      await running;
    }
    for (const [key, command] of runs) {
      const apiCpu = new CpuMeter(api.proc.pid);
      const redisCpu = new CpuMeter(stack.redis.pid);
      const running = cannon.call<HttpLoadResult>(command);
      await ctx.progress.wait(
        `${key}: ${command.method} ${command.overallRate > 0 ? `${command.overallRate} req/s` : 'flat out'}`,
        seconds * 1000,
      );
      const apiCores = apiCpu.cores();
      const redisCores = redisCpu.cores();
      const result = await running;
      const histogram = new LatencyHistogram();
      histogram.add(result.histogram);
      metrics[`${key}.ratePerSecond`] = result.ratePerSecond;
      metrics[`${key}.p50Ms`] = histogram.percentile(50);
      metrics[`${key}.p99Ms`] = histogram.percentile(99);
      metrics[`${key}.maxMs`] = histogram.maxMs;
      metrics[`${key}.errors`] = result.errors + result.timeouts + result.non2xx;
      metrics[`${key}.apiCpuPercent`] = apiCores * 100;
      metrics[`${key}.redisCpuPercent`] = redisCores * 100;
      ctx.progress.log(
        `  ${key}: ${Math.round(result.ratePerSecond)} req/s, p50 ${histogram.percentile(50).toFixed(2)} ms, p99 ${histogram.percentile(99).toFixed(2)} ms, ${metrics[`${key}.errors`]} errors; API ${(apiCores * 100).toFixed(0)}% CPU`,
      );
      await sleep(500);
    }
  } finally {
    await cannon.stop();
    await fleet.close('api').catch(() => {});
    await fleet.stop();
    await stack.stop();
  }
  return { metrics };
}
