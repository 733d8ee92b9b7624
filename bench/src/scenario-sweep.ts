import { randomBytes } from 'node:crypto';
import { KeySpace, PresenceStore, type SessionRef, type WriteOp } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs, sleep } from './clock.js';
import { OurStack, SHARDS, type RunContext, type ScenarioRun } from './context.js';
import { IpcWorker } from './ipc-worker.js';
import { CpuMeter } from './proc-stats.js';
import type { ProbeCommand, ProbeCount } from './probe-worker.js';
import { redisNowMs, slowCalls } from './redis-stats.js';

const SEED_CHUNK = 2_000;
/** Deadline given to every seeded session at once (through the edges' own refresh script). */
const EXPIRE_IN_MS = 2_000;

/**
 * Scenario 5: sweep cost. N sessions of a node that vanished are registered through the store's
 * own scripts (add-session), then all their deadlines are set to the same moment (refresh): time
 * until every offline event has reached an SSE subscriber, and the longest single Redis call while
 * the sweeper works (SLOWLOG, every call over 1 ms).
 */
export async function runSweep(ctx: RunContext): Promise<ScenarioRun> {
  const n = ctx.options.quick ? 10_000 : 100_000;
  const sweeperEnv: Record<string, string> = ctx.options.sweepBatch === null ? {} : { SWEEP_BATCH: String(ctx.options.sweepBatch) };
  const metrics: Record<string, number> = { sessions: n, sweepers: ctx.options.sweepers, sweepBatch: ctx.options.sweepBatch ?? 200 };
  const notes: string[] = [];
  const stack = await OurStack.start(ctx);
  const probe = new IpcWorker<ProbeCommand>('probe-worker.js', 'probe');
  const storeClient = new Redis(stack.redis.url);
  try {
    for (let i = 0; i < ctx.options.sweepers; i += 1) await stack.addSweeper(sweeperEnv);
    const api = await stack.startApi();
    await probe.call({ cmd: 'sse', url: `http://127.0.0.1:${api.httpPort}/v1/events?types=offline` });
    const store = new PresenceStore(storeClient, {
      keys: new KeySpace(stack.prefix, SHARDS),
      eventsMaxLen: 100_000,
      lastSeenTtlMs: 30 * 24 * 3_600_000,
    });

    const seeded: SessionRef[] = [];
    await ctx.progress.bar(`seed ${n} sessions (add-session)`, n, async (update) => {
      for (let i = 0; i < n; i += SEED_CHUNK) {
        const ops: WriteOp[] = [];
        for (let j = i; j < Math.min(n, i + SEED_CHUNK); j += 1) {
          const sessionId = randomBytes(10).toString('hex');
          const clientId = `sw-${j}`;
          ops.push({ kind: 'add', sessionId, clientId, node: 'bench-vanished-node', ttlMs: 600_000, stateJson: null });
          seeded.push({ sessionId, clientId });
        }
        const results = await store.execute(ops);
        const failed = results.filter((r) => !r.ok).length;
        if (failed > 0) throw new Error(`${failed} seed writes failed`);
        update(i + SEED_CHUNK);
      }
    });
    if (!(await stack.waitSessions(n))) notes.push('not every seeded session is in Redis');
    await sleep(1_000);
    await probe.call({ cmd: 'collect', clear: true });

    // Every deadline at the same moment, through the refresh script (the store sends one call per 1000 sessions).
    const [refreshed] = await store.execute([{ kind: 'refresh', sessions: seeded, ttlMs: EXPIRE_IN_MS }]);
    if (refreshed?.ok !== true) throw new Error(`the refresh failed: ${String(refreshed?.ok === false ? refreshed.error : 'no result')}`);
    // The earliest and latest deadline the refresh wrote, as Redis holds them.
    const ends = await Promise.all(
      store.keys.allShards().map(async (keys) => {
        const [first, last] = await Promise.all([
          storeClient.zrange(keys.deadlines, '0', '0', 'WITHSCORES'),
          storeClient.zrange(keys.deadlines, '-1', '-1', 'WITHSCORES'),
        ]);
        return [Number(first[1] ?? Infinity), Number(last[1] ?? -Infinity)];
      }),
    );
    const m0 = monoMs();
    const redisNow = await redisNowMs(stack.client);
    const offset = redisNow - (m0 + monoMs()) / 2;
    const firstDeadline = Math.min(...ends.map(([first]) => first as number)) - offset;
    const lastDeadline = Math.max(...ends.map(([, last]) => last as number)) - offset;
    metrics.deadlineSpreadMs = lastDeadline - firstDeadline;
    await stack.client.config('SET', 'slowlog-log-slower-than', '1000');
    await stack.client.config('SET', 'slowlog-max-len', '4096');
    await stack.client.call('SLOWLOG', 'RESET');

    const redisCpu = new CpuMeter(stack.redis.pid);
    const sweeperCpu = stack.sweepers.map((s) => new CpuMeter(s.proc.pid));
    let sweptAt = Number.NaN;
    await ctx.progress.bar(`sweep ${n} expired sessions`, n, async (update) => {
      const deadline = monoMs() + 60_000;
      let seen = -1;
      let changedAt = monoMs();
      for (;;) {
        const count = await probe.call<ProbeCount>({ cmd: 'count' });
        update(count.offline);
        if (count.offline !== seen) {
          seen = count.offline;
          changedAt = monoMs();
        }
        if (Number.isNaN(sweptAt) && monoMs() > lastDeadline && (await stack.sessions()) === 0) sweptAt = monoMs();
        // Done when all arrived, or the sweep is over and nothing more has come for 3 s (lost ones).
        if (count.offline >= n || monoMs() > deadline || (!Number.isNaN(sweptAt) && monoMs() - changedAt > 3_000)) return;
        await sleep(50);
      }
    });
    const cpuWindow = (monoMs() - firstDeadline) / 1000;
    metrics.redisCpuSeconds = redisCpu.cpuMsSince() / 1000;
    metrics.sweeperCpuSeconds = sweeperCpu.reduce((sum, m) => sum + m.cpuMsSince(), 0) / 1000;
    metrics.windowSeconds = cpuWindow;
    metrics.sseReconnects = (await probe.call<ProbeCount>({ cmd: 'count' })).reconnects;
    const arrivals = (await probe.call<[string, number][]>({ cmd: 'collect', clear: true })).map(([, t]) => t);
    const lastArrival = Math.max(...arrivals);
    metrics.arrived = arrivals.length;
    // Not all out (some never reached the subscriber): there is no "all out" time.
    metrics.allOutMs = arrivals.length < n ? Number.NaN : lastArrival - lastDeadline;
    metrics.allOutFromFirstDeadlineMs = arrivals.length < n ? Number.NaN : lastArrival - firstDeadline;
    metrics.firstOutMs = Math.min(...arrivals) - firstDeadline;
    metrics.allRemovedMs = sweptAt - lastDeadline;
    metrics.lostToSubscriber = n - arrivals.length;
    const slow = await slowCalls(stack.client);
    metrics.longestCallMs = slow.length === 0 ? 0 : (slow[0] as { durationUs: number }).durationUs / 1000;
    metrics.callsOver10Ms = slow.filter((c) => c.durationUs > 10_000).length;
    metrics.callsOver1Ms = slow.length;
    const sweepCalls = slow.filter((c) => c.command.includes('(6 keys)'));
    metrics.longestSweepCallMs = sweepCalls.length === 0 ? 0 : (sweepCalls[0] as { durationUs: number }).durationUs / 1000;
    if (slow[0] !== undefined) notes.push(`longest call: ${slow[0].command}, ${(slow[0].durationUs / 1000).toFixed(2)} ms`);
    if (arrivals.length < n)
      notes.push(`only ${arrivals.length}/${n} offline events reached the SSE subscriber (${metrics.sseReconnects} resumes)`);
    ctx.progress.log(
      `  ${arrivals.length}/${n} offline events at the SSE subscriber (${metrics.sseReconnects} resumes); all written ${metrics.allRemovedMs.toFixed(0)} ms after the deadline, all at the subscriber ${Number.isNaN(metrics.allOutMs) ? '– (some were trimmed before it resumed)' : `${metrics.allOutMs.toFixed(0)} ms`}; longest call ${metrics.longestCallMs.toFixed(2)} ms (${slow[0]?.command ?? '-'}); ${metrics.callsOver10Ms} calls over 10 ms`,
    );
  } finally {
    await probe.stop();
    storeClient.disconnect();
    await stack.stop();
  }
  return { metrics, notes };
}
