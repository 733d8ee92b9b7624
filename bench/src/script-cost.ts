/**
 * Redis time per session of the sweep script, measured in isolation: seeds sessions through the
 * store's own scripts (add-session), expires them all (refresh with a 1 ms TTL), then sweeps every
 * shard with `sweepShard(shard, batch)` and reads the script's Redis time from INFO commandstats.
 * Usage: node bench/dist/script-cost.js [sessions=20000] [batch=200]
 */
import { KeySpace, PresenceStore } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs, sleep } from './clock.js';
import { startRedis, Workdir, ROOT } from './processes.js';
import { commandStats } from './redis-stats.js';
import { seedSessions } from './seed-sessions.js';

const sessions = Number(process.argv[2] ?? 20_000);
const batch = Number(process.argv[3] ?? 200);
const shards = 16;
const work = new Workdir(`${ROOT}bench/results/tmp/script-cost`);
const redis = await startRedis(work, `redis-${process.pid}`);
const client = new Redis(redis.url);
try {
  const store = new PresenceStore(client, { keys: new KeySpace('cost', shards), eventsMaxLen: 100_000, lastSeenTtlMs: 86_400_000 });
  const seeded = await seedSessions(store, sessions, { prefix: 'client-', node: 'gone', state: (j) => (j % 4 === 0 ? '{"s":1}' : null) });
  await store.execute([{ kind: 'refresh', sessions: seeded, ttlMs: 1 }]);
  await sleep(20);
  // A subscriber on the channel, as the API has: PUBLISH costs more with one.
  const subscriber = new Redis(redis.url);
  await subscriber.subscribe(store.keys.eventsChannel);
  const before = await commandStats(client);
  let removed = 0;
  let calls = 0;
  let longest = 0;
  const started = monoMs();
  for (let shard = 0; shard < shards; shard += 1) {
    for (;;) {
      const t0 = monoMs();
      const result = await store.sweepShard(shard, batch);
      longest = Math.max(longest, monoMs() - t0);
      calls += 1;
      removed += result.removed;
      if (!result.more) break;
    }
  }
  const wall = monoMs() - started;
  const after = await commandStats(client);
  const usec = (after.usec.evalsha ?? 0) - (before.usec.evalsha ?? 0);
  const inner = Object.entries(after.calls).reduce(
    (s, [k, v]) => (k === 'evalsha' || k === 'info' ? s : s + v - (before.calls[k] ?? 0)),
    0,
  );
  console.log(
    JSON.stringify({
      sessions,
      batch,
      removed,
      calls,
      wallMs: Math.round(wall),
      redisUsPerSession: +(usec / removed).toFixed(2),
      redisMsPerCall: +(usec / calls / 1000).toFixed(2),
      longestCallRoundTripMs: +longest.toFixed(2),
      commandsPerSession: +(inner / removed).toFixed(2),
    }),
  );
  subscriber.disconnect();
} finally {
  client.disconnect();
  await redis.stop();
}
