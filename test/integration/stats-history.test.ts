import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@presence/telemetry';
import { StatsHistory } from '../../services/api/src/stats-history.js';
import { connectTestRedis, createTestStore } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

let redis: Redis;

beforeAll(() => {
  redis = connectTestRedis();
});

afterAll(async () => {
  await redis.quit();
});

const add = (sessionId: string, clientId: string) =>
  ({ kind: 'add', sessionId, clientId, node: 'n', ttlMs: 60_000, stateJson: null }) as const;

describe('StatsHistory (the dashboard chart, shared by API replicas)', () => {
  it('writes one sample per interval however many replicas sample, with none missing', async () => {
    const store = createTestStore(redis, { shards: 2 });
    await store.execute([add('s1', 'ann'), add('s2', 'ann'), add('s3', 'bob')]);
    const intervalMs = 100;
    // Three replicas, each trying far more often than the interval.
    const replicas = [0, 1, 2].map(() => new StatsHistory(redis, store, store.keys, silentLogger(), { intervalMs, keepMs: 60_000 }));
    let wrote = 0;
    /** Intervals a round of tries began and ended in (Redis time): each must have its sample. */
    const covered = new Set<number>();
    const until = (await store.now()) + 10 * intervalMs;
    for (;;) {
      const before = await store.now();
      if (before >= until) break;
      const results = await Promise.all(replicas.map((replica) => replica.sample()));
      wrote += results.filter(Boolean).length;
      const after = await store.now();
      const slot = before - (before % intervalMs);
      if (after < slot + intervalMs) covered.add(slot);
    }
    const samples = await replicas[0]!.read();
    // Every write is one sample (none refused by Redis after a replica believed it wrote it)...
    expect(samples.length).toBe(wrote);
    // ...at most one per interval, none missing where the replicas tried, each with the counts.
    const ats = samples.map((sample) => sample.at);
    expect(new Set(ats).size).toBe(ats.length);
    for (const at of ats) expect(at % intervalMs).toBe(0);
    expect(covered.size).toBeGreaterThan(0);
    for (const slot of covered) expect(ats, `the interval starting at ${slot}`).toContain(slot);
    for (const sample of samples) expect(sample).toMatchObject({ onlineClients: 2, sessions: 3 });
    expect(await replicas[2]!.read()).toEqual(samples);
  });

  it('keeps only the last keepMs of samples', async () => {
    const store = createTestStore(redis);
    const history = new StatsHistory(redis, store, store.keys, silentLogger(), { intervalMs: 50, keepMs: 200 });
    const first = await waitFor(async () => (await history.sample()) && (await history.read())[0], { what: 'a first sample' });
    // Sampling on: the first sample leaves what is read, then the stream itself, once older than keepMs.
    await waitFor(
      async () => {
        await history.sample();
        const samples = await history.read();
        return samples.length > 0 && samples[0]!.at > first.at;
      },
      { timeoutMs: 2_000, what: 'the first sample to leave the history' },
    );
    const entries = await waitFor(
      async () => {
        await history.sample();
        const all = await redis.xrange(store.keys.statsSamples, '-', '+');
        return all.every(([id]) => Number(id.split('-')[0]) > first.at) && all;
      },
      { timeoutMs: 2_000, what: 'the first sample to be trimmed from the stream' },
    );
    expect(entries.length).toBeLessThanOrEqual(200 / 50 + 1);
  });
});
