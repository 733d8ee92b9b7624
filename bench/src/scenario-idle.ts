import { sleep } from './clock.js';
import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { Fleet } from './fleet.js';
import type { Target } from './loadgen-worker.js';
import { freePort, scrapeMetric, startMosquitto, startScript } from './processes.js';
import { usedMemory } from './redis-stats.js';
import { lineTarget, mqttTarget, openWithProgress, rssOverWindowKiB, steadyRssKiB } from './scenario-helpers.js';

/** Default heartbeat interval (what WELCOME tells clients with the default config). */
const HEARTBEAT_MS = 10_000;
/** MQTT keepalive giving the same silence bound as our default 30 s timeout (Mosquitto allows 1.5 x). */
const MQTT_KEEPALIVE_S = 20;

interface System {
  name: string;
  pid: number;
  target: Target;
  redisBytes?: () => Promise<number>;
  /** JS heap in use (bytes), where the server exposes it (our edge's /metrics). */
  heapBytes?: () => Promise<number>;
  waitRegistered?: (count: number) => Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Scenario 1: N idle connections heartbeating at the default interval on one server process.
 * RSS per connection above the process's idle baseline, Redis memory per session, connect rate;
 * our edge beside a plain Node net server and Mosquitto.
 */
export async function runIdle(ctx: RunContext): Promise<ScenarioRun> {
  const sizes = ctx.options.quick ? [2_000] : [10_000, 18_000];
  const settleMs = ctx.options.quick ? 2_000 : HEARTBEAT_MS + 2_000;
  // RSS is the mean over this window after settling (a major GC every ~40 s moves it).
  const windowMs = ctx.options.quick ? 3_000 : 30_000;
  const metrics: Record<string, number> = {};
  const notes: string[] = [];

  const systems: (() => Promise<System | null>)[] = [
    async () => {
      const stack = await OurStack.start(ctx);
      const edge = await stack.addEdge();
      return {
        name: 'ours',
        pid: edge.proc.pid,
        target: lineTarget(edge.port),
        redisBytes: () => usedMemory(stack.client),
        heapBytes: () => scrapeMetric(edge.httpPort, 'nodejs_heap_size_used_bytes'),
        waitRegistered: (count) => stack.waitSessions(count),
        stop: () => stack.stop(),
      };
    },
    async () => {
      const port = await freePort();
      const proc = await startScript(ctx.work, 'plain-server.js', `idle-run${ctx.run}-plain`, [String(port)], port);
      return { name: 'plain', pid: proc.pid, target: lineTarget(port), stop: async () => void (await proc.stop('SIGKILL')) };
    },
    async () => {
      if (!ctx.options.mosquitto) return null;
      const mosquitto = await startMosquitto(ctx.work, `idle-run${ctx.run}-mosquitto`);
      if (mosquitto === null) {
        notes.push('mosquitto not found: its column is empty');
        return null;
      }
      return {
        name: 'mosquitto',
        pid: mosquitto.proc.pid,
        target: mqttTarget(mosquitto.port, MQTT_KEEPALIVE_S),
        stop: async () => void (await mosquitto.proc.stop('SIGKILL')),
      };
    },
  ];

  for (const startSystem of systems) {
    const system = await startSystem();
    if (system === null) continue;
    const fleet = Fleet.start(Fleet.sizeFor(sizes[sizes.length - 1] as number, 2));
    try {
      await sleep(ctx.options.quick ? 500 : 1_500);
      const baseKiB = await steadyRssKiB(system.pid);
      const memBefore = system.redisBytes === undefined ? 0 : await system.redisBytes();
      const heapBefore = system.heapBytes === undefined ? 0 : await system.heapBytes();
      metrics[`${system.name}.baselineMiB`] = baseKiB / 1024;
      let have = 0;
      for (const size of sizes) {
        const opened = await openWithProgress(
          ctx,
          fleet,
          `${system.name}: connect ${have}→${size}`,
          'idle',
          system.target,
          'idle-',
          size - have,
          have,
        );
        metrics[`${system.name}.connectRate.${size}`] = opened.ratePerSecond;
        metrics[`${system.name}.failed.${size}`] = opened.failed;
        have = size;
        await fleet.heartbeat('idle', HEARTBEAT_MS);
        if (system.waitRegistered !== undefined && !(await system.waitRegistered(size)))
          notes.push(`${system.name}: not all ${size} sessions reached Redis`);
        await ctx.progress.wait(`${system.name}: ${size} idle, heartbeating`, settleMs);
        const rssWindow = rssOverWindowKiB(system.pid, windowMs);
        await ctx.progress.wait(`${system.name}: ${size} idle, RSS over ${windowMs / 1000} s`, windowMs);
        const { mean: rss, min, max } = await rssWindow;
        const live = (await fleet.stats()).live;
        metrics[`${system.name}.live.${size}`] = live;
        metrics[`${system.name}.rssMiB.${size}`] = rss / 1024;
        metrics[`${system.name}.rssPerConnKiB.${size}`] = (rss - baseKiB) / live;
        metrics[`${system.name}.rssPerConnKiBMin.${size}`] = (min - baseKiB) / live;
        metrics[`${system.name}.rssPerConnKiBMax.${size}`] = (max - baseKiB) / live;
        if (system.redisBytes !== undefined)
          metrics[`${system.name}.redisBytesPerSession.${size}`] = ((await system.redisBytes()) - memBefore) / live;
        // How much of the RSS is JS heap in use (objects of ours and of net.Socket), the rest native.
        if (system.heapBytes !== undefined)
          metrics[`${system.name}.heapPerConnKiB.${size}`] = ((await system.heapBytes()) - heapBefore) / 1024 / live;
        ctx.progress.log(
          `  ${system.name} @${size}: ${((rss - baseKiB) / live).toFixed(2)} KiB/conn above ${(baseKiB / 1024).toFixed(1)} MiB idle`,
        );
      }
    } finally {
      await fleet.close('idle').catch(() => {});
      await fleet.stop();
      await system.stop();
    }
  }
  return { metrics, notes };
}
