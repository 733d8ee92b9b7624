import { monoMs, sleep } from './clock.js';
import type { RunContext } from './context.js';
import type { Fleet, FleetOpenResult } from './fleet.js';
import type { Target } from './loadgen-worker.js';
import { rssKiB } from './proc-stats.js';
import { median } from './stats.js';

/** Opens connections with a progress bar fed by the workers' live counts. */
export async function openWithProgress(
  ctx: RunContext,
  fleet: Fleet,
  label: string,
  group: string,
  target: Target,
  prefix: string,
  count: number,
  from = 0,
): Promise<FleetOpenResult> {
  const before = (await fleet.stats()).live;
  return ctx.progress.bar(label, count, async (update) => {
    let done = false;
    const opening = fleet.open(group, target, prefix, count, from).finally(() => {
      done = true;
    });
    while (!done) {
      await Promise.race([opening, sleep(300)]);
      if (!done) update((await fleet.stats()).live - before);
    }
    const result = await opening;
    update(result.connected);
    if (result.failed > 0) ctx.progress.log(`  ${result.failed} connections failed: ${JSON.stringify(result.errors)}`);
    return result;
  });
}

/** Median of a few RSS readings spaced out (RSS moves as the GC works). */
export async function steadyRssKiB(pid: number, readings = 5, everyMs = 300): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < readings; i += 1) {
    values.push(rssKiB(pid));
    if (i + 1 < readings) await sleep(everyMs);
  }
  return median(values);
}

/**
 * RSS sampled every `everyMs` over `windowMs`: its mean is the figure (a V8 process's RSS rises
 * between major GCs and drops at them, so one moment is luck), min and max show the swing.
 */
export async function rssOverWindowKiB(
  pid: number,
  windowMs: number,
  everyMs = 1_000,
): Promise<{ mean: number; min: number; max: number }> {
  const values: number[] = [];
  const end = monoMs() + windowMs;
  for (;;) {
    values.push(rssKiB(pid));
    if (monoMs() + everyMs > end) break;
    await sleep(everyMs);
  }
  return { mean: values.reduce((sum, v) => sum + v, 0) / values.length, min: Math.min(...values), max: Math.max(...values) };
}

export const lineTarget = (port: number): Target => ({ host: '127.0.0.1', port, protocol: 'line' });
export const mqttTarget = (port: number, keepaliveSeconds: number): Target => ({
  host: '127.0.0.1',
  port,
  protocol: 'mqtt',
  keepaliveSeconds,
  will: true,
});
