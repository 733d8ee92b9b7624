import { Redis } from 'ioredis';
import { monoMs, sleep } from './clock.js';
import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { Fleet } from './fleet.js';
import { IpcWorker } from './ipc-worker.js';
import type { ProbeCommand, ProbeCount } from './probe-worker.js';
import { freePort, startMosquitto, startRedis, startScript, type BenchProcess } from './processes.js';
import { lineTarget, mqttTarget, openWithProgress } from './scenario-helpers.js';
import { distribution } from './stats.js';

/** Short production-shaped timing so that a run takes seconds: every bound below derives from it. */
export const DETECTION_TIMING = {
  HEARTBEAT_INTERVAL_MS: 1_000,
  HEARTBEAT_TIMEOUT_MS: 3_000,
  SESSION_REFRESH_MS: 1_000,
  SESSION_TTL_MS: 3_000,
  SWEEP_INTERVAL_MS: 1_000,
} as const;
/** Mosquitto closes a client silent for 1.5 x keepalive: 2 s gives our 3 s timeout. */
const MQTT_KEEPALIVE_S = 2;

interface Outcome {
  latencies: number[];
  missing: number;
  unexpected: number;
  /** SSE only: death → event written in Redis (its stream entry time), and written → arrived. */
  toRedis: number[];
  fromRedis: number[];
}

/** Waits for the offline notifications of `deaths` and returns death-to-arrival latencies. */
async function awaitOffline(
  ctx: RunContext,
  probe: IpcWorker<ProbeCommand>,
  label: string,
  deaths: [string, number][],
  waitMs: number,
): Promise<Outcome> {
  const started = monoMs();
  await ctx.progress.bar(label, deaths.length, async (update) => {
    for (;;) {
      const count = await probe.call<ProbeCount>({ cmd: 'count' });
      update(count.offline);
      if (count.offline >= deaths.length || monoMs() - started > waitMs) return;
      await sleep(100);
    }
  });
  // Redis stamps stream entries with its clock (the machine's wall clock): mono = epoch - offset.
  const offset = Date.now() - monoMs();
  const written = new Map((await probe.call<[string, number][]>({ cmd: 'written' })).map(([id, epoch]) => [id, epoch - offset]));
  const arrivals = new Map(await probe.call<[string, number][]>({ cmd: 'collect', clear: true }));
  const toRedis: number[] = [];
  const fromRedis: number[] = [];
  const latencies: number[] = [];
  let missing = 0;
  for (const [id, diedAt] of deaths) {
    const arrived = arrivals.get(id);
    if (arrived === undefined) missing += 1;
    else latencies.push(arrived - diedAt);
    const at = written.get(id);
    if (at !== undefined && arrived !== undefined) {
      toRedis.push(at - diedAt);
      fromRedis.push(arrived - at);
    }
    arrivals.delete(id);
  }
  const d = distribution(latencies);
  ctx.progress.log(
    `  ${label}: ${latencies.length}/${deaths.length} arrived; p50 ${d.p50.toFixed(0)} ms, p99 ${d.p99.toFixed(0)} ms, max ${d.max.toFixed(0)} ms${arrivals.size > 0 ? `; ${arrivals.size} unexpected` : ''}`,
  );
  if (toRedis.length > 0) {
    const a = distribution(toRedis);
    const b = distribution(fromRedis);
    ctx.progress.log(
      `    death → written in Redis p50 ${a.p50.toFixed(0)} / p99 ${a.p99.toFixed(0)} ms; written → at the subscriber p50 ${b.p50.toFixed(0)} / p99 ${b.p99.toFixed(0)} ms`,
    );
  }
  return { latencies, missing, unexpected: arrivals.size, toRedis, fromRedis };
}

function record(metrics: Record<string, number>, samples: Record<string, number[]>, key: string, outcome: Outcome, dying: number): void {
  const d = distribution(outcome.latencies);
  metrics[`${key}.p50`] = d.p50;
  metrics[`${key}.p99`] = d.p99;
  metrics[`${key}.max`] = d.max;
  metrics[`${key}.arrived`] = outcome.latencies.length;
  metrics[`${key}.missing`] = outcome.missing;
  metrics[`${key}.unexpected`] = outcome.unexpected;
  metrics[`${key}.dying`] = dying;
  if (outcome.toRedis.length > 0) {
    const a = distribution(outcome.toRedis);
    const b = distribution(outcome.fromRedis);
    metrics[`${key}.toRedisP50`] = a.p50;
    metrics[`${key}.toRedisP99`] = a.p99;
    metrics[`${key}.fromRedisP50`] = b.p50;
    metrics[`${key}.fromRedisP99`] = b.p99;
  }
  samples[key] = outcome.latencies;
}

/**
 * Scenario 4: detection latency from a client's death to its offline notification at a subscriber,
 * for (a) a silent client (socket open, no frames: death = its last frame), (b) a closed socket,
 * (c) its edge node SIGKILLed. Ours (SSE), Redis key TTL + keyspace notifications (with and without
 * many long-TTL keys), and Mosquitto keepalive + last will.
 */
export async function runDetection(ctx: RunContext): Promise<ScenarioRun> {
  const quick = ctx.options.quick;
  const total = quick ? 1_000 : 10_000;
  const dying = quick ? 100 : 1_000;
  const onA = total - dying;
  const filler = quick ? 20_000 : 1_000_000;
  const keyspaceWaitMs = quick ? 4_000 : 30_000;
  const settleMs = quick ? 1_000 : 2_000;
  const t = DETECTION_TIMING;
  const metrics: Record<string, number> = {
    clients: total,
    dying,
    timeoutMs: t.HEARTBEAT_TIMEOUT_MS,
    ttlMs: t.SESSION_TTL_MS,
    sweepIntervalMs: t.SWEEP_INTERVAL_MS,
    fillerKeys: filler,
    keyspaceWaitMs,
    mqttKeepaliveSeconds: MQTT_KEEPALIVE_S,
  };
  const samples: Record<string, number[]> = {};
  const notes: string[] = [];

  // Ours: 9k clients on edge A, 1k on edge B; sweeper; API; an SSE subscriber for offline events.
  {
    const env = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, String(v)]));
    const stack = await OurStack.start(ctx, { ...env, OFFLINE_GRACE_MS: '0' });
    const fleet = Fleet.start(Fleet.sizeFor(total, 2));
    const probe = new IpcWorker<ProbeCommand>('probe-worker.js', 'probe');
    try {
      const [edgeA, edgeB, , api] = await Promise.all([stack.addEdge(), stack.addEdge(), stack.addSweeper(), stack.startApi()]);
      await probe.call({ cmd: 'sse', url: `http://127.0.0.1:${api.httpPort}/v1/events?types=offline` });
      await fleet.heartbeat('A', t.HEARTBEAT_INTERVAL_MS);
      await fleet.heartbeat('B', t.HEARTBEAT_INTERVAL_MS);
      await openWithProgress(ctx, fleet, `ours: connect ${onA} to edge A`, 'A', lineTarget(edgeA.port), 'da-', onA);
      await openWithProgress(ctx, fleet, `ours: connect ${dying} to edge B`, 'B', lineTarget(edgeB.port), 'db-', dying);
      if (!(await stack.waitSessions(total))) notes.push('ours: not every session reached Redis');
      await sleep(settleMs);
      await probe.call({ cmd: 'collect', clear: true });

      const silent = await fleet.kill('A', dying, 'silent');
      record(
        metrics,
        samples,
        'ours.a',
        await awaitOffline(ctx, probe, `ours (a) ${dying} go silent`, silent, t.HEARTBEAT_TIMEOUT_MS + 5_000),
        dying,
      );
      const closed = await fleet.kill('A', dying, 'close');
      record(metrics, samples, 'ours.b', await awaitOffline(ctx, probe, `ours (b) ${dying} close their sockets`, closed, 5_000), dying);
      const onB = await fleet.ids('B', dying);
      const killedAt = monoMs();
      edgeB.proc.kill();
      record(
        metrics,
        samples,
        'ours.c',
        await awaitOffline(
          ctx,
          probe,
          `ours (c) edge B (${onB.length}) SIGKILLed`,
          onB.map((id) => [id, killedAt]),
          t.SESSION_TTL_MS + t.SWEEP_INTERVAL_MS + 5_000,
        ),
        onB.length,
      );
    } finally {
      await probe.stop();
      await fleet.close('A').catch(() => {});
      await fleet.close('B').catch(() => {});
      await fleet.stop();
      await stack.stop();
    }
  }

  // Redis key TTL + keyspace notifications: SET key PX ttl per heartbeat; offline = `expired`.
  // The many-keys variant only in full runs: --quick proves the code path with the plain one.
  const keyspaceRuns = quick
    ? ([['keyspace', 0]] as const)
    : ([
        ['keyspace', 0],
        ['keyspaceFilled', filler],
      ] as const);
  for (const [key, fillerKeys] of keyspaceRuns) {
    const redis = await startRedis(ctx.work, `detection-run${ctx.run}-${key}-redis`, ['--notify-keyspace-events', 'Ex']);
    const client = new Redis(redis.url);
    const servers: BenchProcess[] = [];
    const fleet = Fleet.start(Fleet.sizeFor(total, 2));
    const probe = new IpcWorker<ProbeCommand>('probe-worker.js', 'probe');
    try {
      if (fillerKeys > 0) {
        await ctx.progress.bar(`${key}: ${fillerKeys} keys with a 1 h TTL`, fillerKeys, async (update) => {
          for (let i = 0; i < fillerKeys; i += 10_000) {
            const pipeline = client.pipeline();
            for (let j = i; j < Math.min(fillerKeys, i + 10_000); j += 1) pipeline.set(`filler:${j}`, 'x', 'EX', 3_600);
            await pipeline.exec();
            update(i + 10_000);
          }
        });
      }
      const ports = [await freePort(), await freePort()];
      for (const [i, port] of ports.entries()) {
        servers.push(
          await startScript(
            ctx.work,
            'naive-server.js',
            `detection-run${ctx.run}-${key}-${i}`,
            [String(port), redis.url, 'setex', String(t.HEARTBEAT_TIMEOUT_MS), 'ks'],
            port,
          ),
        );
      }
      await probe.call({ cmd: 'keyspace', url: redis.url, keyPrefix: 'ks:hb:' });
      await fleet.heartbeat('A', t.HEARTBEAT_INTERVAL_MS);
      await fleet.heartbeat('B', t.HEARTBEAT_INTERVAL_MS);
      await openWithProgress(ctx, fleet, `${key}: connect ${onA}`, 'A', lineTarget(ports[0] as number), 'da-', onA);
      await openWithProgress(ctx, fleet, `${key}: connect ${dying}`, 'B', lineTarget(ports[1] as number), 'db-', dying);
      await sleep(settleMs);
      await probe.call({ cmd: 'collect', clear: true });
      const silent = await fleet.kill('A', dying, 'silent');
      record(metrics, samples, `${key}.a`, await awaitOffline(ctx, probe, `${key} (a) ${dying} go silent`, silent, keyspaceWaitMs), dying);
      const onB = await fleet.ids('B', dying);
      const killedAt = monoMs();
      (servers[1] as BenchProcess).kill();
      record(
        metrics,
        samples,
        `${key}.c`,
        await awaitOffline(
          ctx,
          probe,
          `${key} (c) server B SIGKILLed`,
          onB.map((id) => [id, killedAt]),
          keyspaceWaitMs,
        ),
        onB.length,
      );
    } finally {
      await probe.stop();
      await fleet.close('A').catch(() => {});
      await fleet.close('B').catch(() => {});
      await fleet.stop();
      await Promise.all(servers.map((s) => s.stop('SIGKILL')));
      client.disconnect();
      await redis.stop();
    }
  }

  // Mosquitto: keepalive + last will (its close/silence is the broker's own; no node-death case).
  if (ctx.options.mosquitto) {
    const mosquitto = await startMosquitto(ctx.work, `detection-run${ctx.run}-mosquitto`);
    if (mosquitto === null) notes.push('mosquitto not found: no MQTT baseline');
    else {
      const fleet = Fleet.start(Fleet.sizeFor(total, 2));
      const probe = new IpcWorker<ProbeCommand>('probe-worker.js', 'probe');
      try {
        await probe.call({ cmd: 'mqtt', port: mosquitto.port });
        await fleet.heartbeat('A', t.HEARTBEAT_INTERVAL_MS);
        await openWithProgress(ctx, fleet, `mosquitto: connect ${total}`, 'A', mqttTarget(mosquitto.port, MQTT_KEEPALIVE_S), 'dm-', total);
        await sleep(settleMs);
        await probe.call({ cmd: 'collect', clear: true });
        const silent = await fleet.kill('A', dying, 'silent');
        record(
          metrics,
          samples,
          'mosquitto.a',
          await awaitOffline(ctx, probe, `mosquitto (a) ${dying} go silent`, silent, MQTT_KEEPALIVE_S * 1_500 + (quick ? 7_000 : 10_000)),
          dying,
        );
        const closed = await fleet.kill('A', dying, 'close');
        record(
          metrics,
          samples,
          'mosquitto.b',
          await awaitOffline(ctx, probe, `mosquitto (b) ${dying} close their sockets`, closed, 5_000),
          dying,
        );
      } finally {
        await probe.stop();
        await fleet.close('A').catch(() => {});
        await fleet.stop();
        await mosquitto.proc.stop('SIGKILL');
      }
    }
  }
  return { metrics, samples, notes };
}
