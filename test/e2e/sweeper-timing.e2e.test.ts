import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { sessionMember, type PresenceStore } from '@presence/presence-store';
import { percentile } from '../support/figures.js';
import { Stack } from '../support/stack.js';
import { connectTestRedis, createTestStore, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

// A long interval: anything swept well before it was swept because its deadline came, not by polling.
const SWEEP_INTERVAL_MS = 3_000;
const SHARDS = 4;

let stack: Stack;
let redis: Redis;
let store: PresenceStore;

beforeAll(async () => {
  stack = await Stack.start({
    redisUrl: testRedisUrl(), edges: 0, sweepers: 1, api: false, shards: SHARDS,
    env: { SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS) },
  });
  redis = connectTestRedis();
  store = createTestStore(redis, { prefix: stack.prefix, shards: SHARDS });
});

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

/** Offline events of clients with this prefix: client id → the event's `at`. */
async function offlineAt(prefix: string): Promise<Map<string, number>> {
  const at = new Map<string, number>();
  for (let shard = 0; shard < SHARDS; shard += 1) {
    for (const { event } of await store.readEvents(shard, '0-0', 10_000)) {
      if (event.type === 'offline' && event.clientId.startsWith(`${prefix}-`)) at.set(event.clientId, event.at);
    }
  }
  return at;
}

async function seed(prefix: string, count: number, ttlMs: number): Promise<Map<string, number>> {
  const ops = Array.from({ length: count }, (_, i) => ({
    kind: 'add' as const, sessionId: `s${i}`, clientId: `${prefix}-${i}`, node: 'gone-node', ttlMs, stateJson: null,
  }));
  const deadlines = new Map<string, number>();
  (await store.execute(ops)).forEach((result, i) => {
    if (result.ok && result.kind === 'add') deadlines.set(`${prefix}-${i}`, result.now + ttlMs);
  });
  return deadlines;
}

describe('sweeper timing', () => {
  it('sweeps a session as its deadline passes, not up to an interval later', async () => {
    const deadlines = await seed('due', 100, 1_000);
    const swept = await waitFor(async () => {
      const at = await offlineAt('due');
      return at.size === 100 ? at : false;
    }, { timeoutMs: 2 * SWEEP_INTERVAL_MS + 2_000, what: 'the sessions to expire' });
    const lags = [...swept].map(([clientId, at]) => at - (deadlines.get(clientId) as number)).sort((a, b) => a - b);
    expect(percentile(lags, 0)).toBeGreaterThanOrEqual(0);
    // Seeded after the sweeper went to sleep: it learns of these deadlines at its next look (within
    // an interval, here 3 s), then sleeps until they pass. (Slack for a loaded CI machine.)
    expect(percentile(lags, 100)).toBeLessThanOrEqual(SWEEP_INTERVAL_MS + 1_000);

    // Now the sweeper knows the shards' earliest deadlines: a second generation with a longer TTL
    // is swept within a few ms of its deadlines.
    const later = await seed('later', 100, 2 * SWEEP_INTERVAL_MS);
    const laterSwept = await waitFor(async () => {
      const at = await offlineAt('later');
      return at.size === 100 ? at : false;
    }, { timeoutMs: 4 * SWEEP_INTERVAL_MS + 2_000, what: 'the second generation to expire' });
    const laterLags = [...laterSwept].map(([clientId, at]) => at - (later.get(clientId) as number)).sort((a, b) => a - b);
    expect(percentile(laterLags, 0)).toBeGreaterThanOrEqual(0);
    // A few ms on a quiet machine; the bound is a third of the interval polling would need, with
    // room for a loaded CI machine (a sweeper starved of CPU holds expiry off, as after an outage).
    expect(percentile(laterLags, 100)).toBeLessThanOrEqual(1_000);

  });

  it('a deadline moved earlier than the earliest one known is swept within the interval', async () => {
    const deadlines = await seed('moved', 20, 600_000);
    // Pull the far deadlines in, as an edge with a much shorter TTL would.
    const byShard = new Map<number, string[]>();
    for (let i = 0; i < 20; i += 1) {
      const shard = store.keys.shardOf(`moved-${i}`);
      byShard.set(shard, [...(byShard.get(shard) ?? []), sessionMember(`s${i}`, `moved-${i}`)]);
    }
    const results = await store.execute([...byShard].map(([shard, members]) => ({ kind: 'refresh' as const, shard, members, ttlMs: 100 })));
    const movedTo = Math.max(...results.map((r) => (r.ok && r.kind === 'refresh' ? r.now + 100 : 0)));
    const swept = await waitFor(async () => {
      const at = await offlineAt('moved');
      return at.size === 20 ? at : false;
    }, { timeoutMs: 2 * SWEEP_INTERVAL_MS + 2_000, what: 'the moved sessions to expire' });
    expect(deadlines.size).toBe(20);
    expect(Math.max(...swept.values()) - movedTo).toBeLessThanOrEqual(SWEEP_INTERVAL_MS + 1_000);
  });
});
