/**
 * Redis time per channel leave of the outbox drain, measured in isolation: seeds sessions that each
 * join 10 channels of a pool of 1000 (as the channels scenario's SIGKILL does), expires them all,
 * sweeps every shard (which writes one outbox entry per session), then drains the shards' outboxes
 * together with `drainOutboxes(shards, batch)` as the sweeper's channel processor does, and reads the scripts'
 * Redis time from INFO commandstats.
 * `per-shard` drains each shard on its own instead (what the processor did before), to compare.
 * Usage: node bench/dist/channel-leave-cost.js [sessions=10000] [batch=500] [together|per-shard]
 */
import { ChannelStore, KeySpace, PresenceStore } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs, sleep } from './clock.js';
import { startRedis, Workdir, ROOT } from './processes.js';
import { commandStats } from './redis-stats.js';
import { seedSessions } from './seed-sessions.js';

const sessions = Number(process.argv[2] ?? 10_000);
const batch = Number(process.argv[3] ?? 500);
const perShard = process.argv[4] === 'per-shard';
const perSession = 10;
const pool = 1_000;
const shards = 16;
const work = new Workdir(`${ROOT}bench/results/tmp/channel-leave-cost`);
const redis = await startRedis(work, `redis-${process.pid}`);
const client = new Redis(redis.url);

/** Redis time in EVALSHA and the commands the scripts ran, between two INFO commandstats. */
function scriptCost(before: Awaited<ReturnType<typeof commandStats>>, after: Awaited<ReturnType<typeof commandStats>>) {
  const usec = (after.usec.evalsha ?? 0) - (before.usec.evalsha ?? 0);
  const inner = Object.entries(after.calls).reduce(
    (s, [k, v]) => (k === 'evalsha' || k === 'info' ? s : s + v - (before.calls[k] ?? 0)),
    0,
  );
  const top = Object.entries(after.usec)
    .map(([k, v]) => [k, v - (before.usec[k] ?? 0), (after.calls[k] ?? 0) - (before.calls[k] ?? 0)] as const)
    .filter(([k, , n]) => k !== 'evalsha' && n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, us, n]) => `${k} ${n}x ${(us / n).toFixed(1)}us`);
  return { usec, inner, calls: (after.calls.evalsha ?? 0) - (before.calls.evalsha ?? 0), top };
}

try {
  const keys = new KeySpace('cost', shards);
  const store = new PresenceStore(client, { keys, eventsMaxLen: 100_000, lastSeenTtlMs: 86_400_000 });
  const channels = new ChannelStore(client, { keys });
  const seeded = await seedSessions(store, sessions, { prefix: 'client-', node: 'gone' });
  for (let i = 0; i < sessions; i += 100) {
    await Promise.all(
      seeded
        .slice(i, i + 100)
        .flatMap((session, k) =>
          Array.from({ length: perSession }, (_, j) =>
            channels.join(session, `kill:${((i + k) * perSession + j) % pool}`, 'gone', null, 100),
          ),
        ),
    );
  }
  await store.execute([{ kind: 'refresh', sessions: seeded, ttlMs: 1 }]);
  await sleep(20);
  // Subscribers on the event channels and the doorbells, as the API and the sweeper have.
  const subscriber = new Redis(redis.url);
  await subscriber.subscribe(keys.eventsChannel, keys.channelEventsChannel, ...keys.allShards().map((s) => s.outbox));

  const beforeSweep = await commandStats(client);
  const sweepStarted = monoMs();
  for (let shard = 0; shard < shards; shard += 1) {
    while ((await store.sweepShard(shard, 200)).more);
  }
  const sweepWall = monoMs() - sweepStarted;
  const sweep = scriptCost(beforeSweep, await commandStats(client));

  const before = await commandStats(client);
  let leaves = 0;
  let events = 0;
  let drains = 0;
  let longest = 0;
  const started = monoMs();
  // As the sweeper's channel processor does: every shard with entries, together, until none is left.
  const after = new Map(keys.allShards().map(({ shard }) => [shard, '-']));
  const drainAll = async (shards: number[]) => {
    let reads = shards;
    while (reads.length > 0) {
      const t0 = monoMs();
      const drained = await channels.drainOutboxes(
        reads.map((shard) => ({ shard, after: after.get(shard) as string })),
        batch,
      );
      longest = Math.max(longest, monoMs() - t0);
      drains += 1;
      leaves += drained.leaves;
      events += drained.events;
      for (const part of drained.shards) if (part.lastId !== null) after.set(part.shard, part.lastId);
      reads = drained.shards.filter((part) => part.more).map((part) => part.shard);
    }
  };
  if (perShard) await Promise.all([...after.keys()].map((shard) => drainAll([shard])));
  else await drainAll([...after.keys()]);
  const wall = monoMs() - started;
  const drain = scriptCost(before, await commandStats(client));
  console.log(
    JSON.stringify({
      sessions,
      memberships: sessions * perSession,
      batch,
      mode: perShard ? 'per-shard' : 'together',
      sweepWallMs: Math.round(sweepWall),
      sweepRedisUsPerSession: +(sweep.usec / sessions).toFixed(2),
      leaves,
      events,
      drains,
      scriptCalls: drain.calls,
      drainWallMs: Math.round(wall),
      redisUsPerLeave: +(drain.usec / leaves).toFixed(2),
      redisMsPerCall: +(drain.usec / drain.calls / 1000).toFixed(3),
      commandsPerLeave: +(drain.inner / leaves).toFixed(2),
      longestDrainMs: +longest.toFixed(1),
      outboxLeft: await channels.outboxLength(),
      drainCommands: drain.top.join(', '),
    }),
  );
  subscriber.disconnect();
} finally {
  client.disconnect();
  await redis.stop();
}
