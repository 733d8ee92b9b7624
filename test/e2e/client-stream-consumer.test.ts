import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeySpace } from '@presence/presence-store';
import {
  createStreamConsumer,
  eventStreamKey,
  type PresenceEvent,
  type StreamConsumerOptions,
  type StreamEventHandler,
} from '@presence/client';
import { Stack } from '../support/stack.js';
import { ConsumerPool, pendingCount as pendingIn } from '../support/stream-consumers.js';
import { connectTestRedis, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

// The SDK's Redis stream consumer against the event streams real edge nodes write: a group of
// workers shares the events, and a worker that dies with events in hand loses none of them.

const SHARDS = 4;
let stack: Stack;
let redis: Redis;
const pool = new ConsumerPool();

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, api: false, shards: SHARDS });
  redis = connectTestRedis();
});

afterAll(async () => {
  await pool.stop();
  await redis?.quit();
  await stack?.stop();
});

function edgePort(): number {
  const edge = stack.edges[0];
  if (edge === undefined) throw new Error('no edge');
  return edge.port;
}

/** Connects then leaves: one online and one offline event per id. */
async function blink(ids: readonly string[]): Promise<void> {
  const sessions = await Promise.all(ids.map((id) => WireClient.session(edgePort(), id, 0)));
  await Promise.all(sessions.map((s) => s.client.bye()));
}

async function eventIdsOf(prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let shard = 0; shard < SHARDS; shard += 1) {
    for (const [entryId] of await redis.xrange(eventStreamKey(prefix, shard), '-', '+')) ids.push(`${shard}-${entryId}`);
  }
  return ids.sort();
}

const pendingCount = (group: string) =>
  pendingIn(
    redis,
    stack.keys.allShards().map((shard) => shard.events),
    group,
  );

/** One worker with a Redis connection of its own (so that it can die alone). */
function worker(name: string, group: string, handler: StreamEventHandler, options: Partial<StreamConsumerOptions> = {}) {
  return pool.add((connection) =>
    createStreamConsumer({
      redis: connection,
      keyPrefix: stack.prefix,
      shardCount: SHARDS,
      group,
      consumer: name,
      handler,
      claimIntervalMs: 200,
      pollMs: 200,
      ...options,
    }),
  );
}

describe('the stream consumer', () => {
  it('reads the streams the service writes (same keys as the server builds)', () => {
    const keys = new KeySpace(stack.prefix, SHARDS);
    for (let shard = 0; shard < SHARDS; shard += 1) expect(eventStreamKey(stack.prefix, shard)).toBe(keys.shard(shard).events);
  });

  it('shares the events among the workers of a group: each event handled once, all acknowledged', async () => {
    const handled = new Map<string, string[]>();
    const record = (name: string) => (event: PresenceEvent) => void handled.set(event.id, [...(handled.get(event.id) ?? []), name]);
    const a = worker('a', 'share', record('a'));
    const b = worker('b', 'share', record('b'));
    await Promise.all([a.consumer.start(), b.consumer.start()]);
    const before = new Set(await eventIdsOf(stack.prefix));
    await blink(Array.from({ length: 20 }, (_, i) => `group-${i}`));
    const expected = await waitFor(
      async () => {
        const ids = (await eventIdsOf(stack.prefix)).filter((id) => !before.has(id));
        return ids.length === 40 ? ids : false;
      },
      { what: '40 events in the streams' },
    );
    await waitFor(() => expected.every((id) => handled.has(id)), { what: 'every event handled' });
    expect([...handled.values()].every((by) => by.length === 1)).toBe(true);
    await waitFor(async () => (await pendingCount('share')) === 0, { what: 'every event acknowledged' });
    // A new group starting at "new" saw none of the events written before it existed.
    expect([...handled.keys()].filter((id) => before.has(id))).toEqual([]);
  });

  it("hands a crashed worker's pending events to another worker after the claim idle time", async () => {
    const claimIdleMs = 500;
    await blink(['takeover-1', 'takeover-2', 'takeover-3']);
    const all = await waitFor(
      async () => {
        const ids = await eventIdsOf(stack.prefix);
        return ids.length >= 46 ? ids : false;
      },
      { what: 'the events of all three tests so far' },
    );

    // The doomed worker reads a batch from every shard, takes the first event and never finishes
    // it, as if its process hung or died: every event it read stays pending, owned by it.
    const taken: PresenceEvent[] = [];
    const doomed = worker(
      'doomed',
      'takeover',
      (event) => {
        taken.push(event);
        return new Promise<void>(() => {});
      },
      { claimIdleMs, startAt: 'all', wakeOnPublish: false },
    );
    await doomed.consumer.start();
    await waitFor(() => taken.length === 1, { what: 'the doomed worker to take an event' });
    doomed.connection.disconnect();
    expect(await pendingCount('takeover')).toBe(all.length);

    const rescued: { id: string; redelivered: boolean }[] = [];
    const claims: number[] = [];
    const rescuer = worker(
      'rescuer',
      'takeover',
      (event, context) => void rescued.push({ id: event.id, redelivered: context.redelivered }),
      {
        claimIdleMs,
      },
    );
    rescuer.consumer.on('claimed', (info) => claims.push(info.count));
    const startedAt = performance.now();
    await rescuer.consumer.start();
    await waitFor(async () => (await pendingCount('takeover')) === 0, { what: 'every pending event taken over and acknowledged' });
    const tookMs = performance.now() - startedAt;
    console.info(
      `[figure] a crashed worker's ${all.length} pending events taken over and handled ${tookMs.toFixed(0)} ms after the rescuer started (claimIdleMs ${claimIdleMs})`,
    );

    expect(rescued.map((r) => r.id).sort()).toEqual(all);
    expect(rescued.every((r) => r.redelivered)).toBe(true);
    expect(claims.reduce((sum, n) => sum + n, 0)).toBe(all.length);
    expect(all).toContain(taken[0]?.id);
  });

  it('a group created with startAt "all" replays the retained events', async () => {
    const seen: string[] = [];
    const replay = worker('r', 'replay', (event) => void seen.push(event.id), { startAt: 'all' });
    await replay.consumer.start();
    const all = await eventIdsOf(stack.prefix);
    await waitFor(() => seen.length >= all.length, { what: 'every retained event' });
    expect(seen).toHaveLength(all.length);
    expect([...seen].sort()).toEqual(all);
  });
});
