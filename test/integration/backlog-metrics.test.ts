import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { KeySpace, PresenceStore, createRedisConnection } from '@presence/presence-store';
import { registerBacklogMetrics } from '../../services/api/src/backlog-metrics.js';
import { freePort } from '../support/free-port.js';
import { connectTestRedis, testPrefix } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

// The gauges the SweepLag and EventStreamTrimmingOutrunsConsumerGroup alerts read
// (deploy/prometheus/alerts.yml), scraped from a real Redis with no sweeper running.
let redis: Redis;

beforeAll(() => {
  redis = connectTestRedis();
});

afterAll(() => {
  redis.disconnect();
});

/** One shard, so that every event lands in one stream, trimmed at ~100 entries (MAXLEN ~). */
function oneShardStore(): PresenceStore {
  return new PresenceStore(redis, { keys: new KeySpace(testPrefix(), 1), eventsMaxLen: 100, lastSeenTtlMs: 60_000 });
}

function sample(text: string, name: string, labels = ''): number | null {
  const match = new RegExp(`^${name}(?:\\{${labels}[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return match === null ? null : Number(match[1]);
}

async function scrape(store: PresenceStore, client: Redis = redis): Promise<string> {
  const registry = new Registry();
  registerBacklogMetrics(registry, client, store.keys);
  return registry.metrics();
}

async function churn(store: PresenceStore, prefix: string, clients: number): Promise<void> {
  const ids = Array.from({ length: clients }, (_, i) => `${prefix}-${i}`);
  await store.execute(ids.map((clientId) => ({ kind: 'add', sessionId: 's', clientId, node: 'n', ttlMs: 60_000, stateJson: null })));
  await store.execute(ids.map((clientId) => ({ kind: 'remove', sessionId: 's', clientId, reason: 'leave' })));
}

describe('backlog gauges', () => {
  it('sweep lag: 0 while no deadline has passed, then how long the oldest unswept one has been overdue', async () => {
    const store = oneShardStore();
    expect(sample(await scrape(store), 'presence_sessions_overdue_seconds')).toBe(0);
    await store.execute([{ kind: 'add', sessionId: 's1', clientId: 'late', node: 'n', ttlMs: 50, stateJson: null }]);
    expect(sample(await scrape(store), 'presence_sessions_overdue_seconds')).toBe(0);
    await waitFor(async () => (sample(await scrape(store), 'presence_sessions_overdue_seconds') ?? 0) >= 0.2, {
      what: 'the unswept session to be 200 ms overdue',
    });
    // A sweep removes it, and the lag is gone.
    await store.sweepShard(0, 100);
    expect(sample(await scrape(store), 'presence_sessions_overdue_seconds')).toBe(0);
  });

  it('a consumer group that keeps up is never overrun; one that stopped is, once trimming passes it', async () => {
    const store = oneShardStore();
    const stream = store.keys.shard(0).events;
    await churn(store, 'warmup', 5);
    await redis.xgroup('CREATE', stream, 'reader', '$');
    await redis.xgroup('CREATE', stream, 'stalled', '$');
    let text = await scrape(store);
    expect(sample(text, 'presence_events_group_overrun_shards', 'group="stalled"')).toBe(0);
    expect(sample(text, 'presence_events_group_behind_ratio', 'group="reader"')).toBe(0);

    // 600 events, so MAXLEN ~100 trims whole nodes; `reader` reads as they come, `stalled` never does.
    for (let i = 0; i < 6; i += 1) {
      await churn(store, `wave${i}`, 50);
      await redis.xreadgroup('GROUP', 'reader', 'r1', 'COUNT', 1_000, 'STREAMS', stream, '>');
    }
    expect(await redis.xlen(stream)).toBeLessThan(600);
    text = await scrape(store);
    expect(sample(text, 'presence_events_group_overrun_shards', 'group="reader"')).toBe(0);
    expect(sample(text, 'presence_events_group_behind_ratio', 'group="reader"')).toBe(0);
    expect(sample(text, 'presence_events_group_behind_seconds', 'group="reader"')).toBe(0);
    expect(sample(text, 'presence_events_group_overrun_shards', 'group="stalled"')).toBe(1);
    expect(sample(text, 'presence_events_group_behind_ratio', 'group="stalled"')).toBeGreaterThanOrEqual(1);

    // Once it reads again it is past the trimmed entries (they are lost to it), and no longer overrun.
    await redis.xreadgroup('GROUP', 'stalled', 's1', 'COUNT', 1_000, 'STREAMS', stream, '>');
    text = await scrape(store);
    expect(sample(text, 'presence_events_group_overrun_shards', 'group="stalled"')).toBe(0);
    expect(sample(text, 'presence_events_group_behind_ratio', 'group="stalled"')).toBe(0);
  });

  it('without Redis the sweep lag is unknown (NaN), not a reassuring 0, and no group is reported', async () => {
    const unreachable = createRedisConnection({
      url: `redis://127.0.0.1:${await freePort()}`,
      mode: 'standalone',
      failFast: true,
    }) as Redis;
    unreachable.on('error', () => {});
    try {
      const text = await scrape(oneShardStore(), unreachable);
      expect(sample(text, 'presence_sessions_overdue_seconds')).toBeNaN();
      expect(text).not.toMatch(/^presence_events_group_overrun_shards\{/m);
    } finally {
      unreachable.disconnect();
    }
  });

  it('a shard whose stream does not exist yet reports no group and no error', async () => {
    const store = oneShardStore();
    const text = await scrape(store);
    expect(sample(text, 'presence_sessions_overdue_seconds')).toBe(0);
    expect(text).not.toMatch(/^presence_events_group_overrun_shards\{/m);
  });
});
