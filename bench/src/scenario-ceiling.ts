import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { KeySpace, PresenceStore, type SessionRef, type WriteOp } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs } from './clock.js';
import { SHARDS, type RunContext, type ScenarioRun } from './context.js';
import { CpuMeter } from './proc-stats.js';
import { startRedis } from './processes.js';

const run = promisify(execFile);
/** The scenario's keys: redis-benchmark's ZADDs go to the deadlines set our refresh writes. */
const KEYS = new KeySpace('ceiling', SHARDS);

async function redisBenchmark(port: number, requests: number, pipeline: number, clients: number): Promise<number> {
  const { stdout } = await run(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-n',
      String(requests),
      '-P',
      String(pipeline),
      '-c',
      String(clients),
      '-r',
      '1000000',
      '--csv',
      'ZADD',
      KEYS.shard(0).deadlines,
      '__rand_int__',
      'member:__rand_int__',
    ],
    { timeout: 120_000 },
  );
  const line = stdout.trim().split('\n').pop() ?? '';
  return Number(line.split('","')[1]?.replace(/"/g, ''));
}

/**
 * The ceiling: redis-benchmark ZADDs (pipelined, and one per round trip as a naive design sends
 * them) on the same machine, and the deadline updates per second our refresh script achieves
 * (ZMSCORE + ZADD XX of 1000 members per call), as a fraction of the pipelined ZADD rate.
 */
export async function runCeiling(ctx: RunContext): Promise<ScenarioRun> {
  const quick = ctx.options.quick;
  const metrics: Record<string, number> & {
    zaddPipelinedPerSecond: number;
    zaddUnpipelinedPerSecond: number;
    ourMemberUpdatesPerSecond: number;
    ourFractionOfPipelinedZadd: number;
  } = {
    zaddPipelinedPerSecond: Number.NaN,
    zaddUnpipelinedPerSecond: Number.NaN,
    ourMemberUpdatesPerSecond: Number.NaN,
    ourFractionOfPipelinedZadd: Number.NaN,
  };
  const redis = await startRedis(ctx.work, `ceiling-run${ctx.run}-redis`);
  const client = new Redis(redis.url);
  try {
    await ctx.progress.bar('redis-benchmark ZADD', 2, async (update) => {
      metrics.zaddPipelinedPerSecond = await redisBenchmark(redis.port, quick ? 200_000 : 2_000_000, 64, 4);
      update(1);
      metrics.zaddUnpipelinedPerSecond = await redisBenchmark(redis.port, quick ? 50_000 : 300_000, 1, 50);
      update(2);
    });
    await client.flushall();

    const sessions = quick ? 10_000 : 50_000;
    const store = new PresenceStore(client, { keys: KEYS, eventsMaxLen: 100_000, lastSeenTtlMs: 86_400_000 });
    const seeded: SessionRef[] = [];
    await ctx.progress.bar(`seed ${sessions} sessions`, sessions, async (update) => {
      for (let i = 0; i < sessions; i += 2_000) {
        const ops: WriteOp[] = [];
        for (let j = i; j < Math.min(sessions, i + 2_000); j += 1) {
          const sessionId = randomBytes(10).toString('hex');
          const clientId = `c-${j}`;
          ops.push({ kind: 'add', sessionId, clientId, node: 'ceiling', ttlMs: 3_600_000, stateJson: null });
          // With its shard, as an edge keeps it: the loop below measures Redis, not CRC16s.
          seeded.push({ sessionId, clientId, shard: store.keys.shardOf(clientId) });
        }
        await store.execute(ops);
        update(i + 2_000);
      }
    });
    const refresh: WriteOp = { kind: 'refresh', sessions: seeded, ttlMs: 3_600_000 };
    const durationMs = quick ? 2_000 : 5_000;
    const cpu = new CpuMeter(redis.pid);
    let updated = 0;
    const started = monoMs();
    // Two batches in flight, like two edge nodes refreshing at once.
    const lane = async () => {
      while (monoMs() - started < durationMs) {
        const [result] = await store.execute([refresh]);
        if (result?.ok && result.kind === 'refresh') updated += seeded.length - result.missing.length;
      }
    };
    await Promise.all([lane(), lane(), ctx.progress.wait('refresh-1 flat out, 2 batches in flight', durationMs)]);
    const elapsed = monoMs() - started;
    metrics.refreshSessions = sessions;
    metrics.ourMemberUpdatesPerSecond = (updated / elapsed) * 1000;
    metrics.ourRedisCpuPercent = cpu.cores() * 100;
    metrics.ourFractionOfPipelinedZadd = metrics.ourMemberUpdatesPerSecond / metrics.zaddPipelinedPerSecond;
    ctx.progress.log(
      `  pipelined ZADD ${Math.round(metrics.zaddPipelinedPerSecond)}/s, unpipelined ${Math.round(metrics.zaddUnpipelinedPerSecond)}/s; our refresh ${Math.round(metrics.ourMemberUpdatesPerSecond)} members/s (${(metrics.ourFractionOfPipelinedZadd * 100).toFixed(0)}%)`,
    );
  } finally {
    client.disconnect();
    await redis.stop();
  }
  return { metrics };
}
