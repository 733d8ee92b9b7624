import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusiestChannels } from '../../services/api/src/busiest-channels.js';
import { connectTestRedis, createTestChannels, type TestChannels } from '../support/test-store.js';

/** The dashboard's busiest channels against a real Redis (standalone, or the 3-master cluster with TEST_REDIS_CLUSTER=1). */

let redis: Redis;

beforeAll(() => {
  redis = connectTestRedis();
});

afterAll(() => {
  redis.disconnect();
});

type Fixture = TestChannels;
const fixture = (): Fixture => createTestChannels(redis);

const add = (sessionId: string, clientId: string) =>
  ({ kind: 'add', sessionId, clientId, node: 'n1', ttlMs: 60_000, stateJson: null }) as const;

/** Session `sessionId` of `clientId` joins every channel named. */
async function join(f: Fixture, sessionId: string, clientId: string, channels: readonly string[]): Promise<void> {
  await f.store.write(add(sessionId, clientId));
  await Promise.all(channels.map((channel) => f.channels.join({ sessionId, clientId }, channel, 'n1', null, 1_000)));
}

describe('BusiestChannels', () => {
  it('ranks the channels with members by clients, then sessions, then name, and reuses a ranking for maxAgeMs', async () => {
    const f = fixture();
    await join(f, 'a1', 'ann', ['hot', 'warm', 'warm2', 'cold']);
    await join(f, 'a2', 'ann', ['warm']);
    await join(f, 'b1', 'bob', ['hot', 'warm', 'warm2']);
    await join(f, 'c1', 'cy', ['hot', 'gone']);
    await f.channels.leave({ sessionId: 'c1', clientId: 'cy' }, 'gone');

    const busiest = new BusiestChannels(f.channels, { maxAgeMs: 60_000 });
    const all = await busiest.top(10);
    expect(all).toEqual({
      channels: [
        { channel: 'hot', clients: 3, sessions: 3 },
        { channel: 'warm', clients: 2, sessions: 3 },
        { channel: 'warm2', clients: 2, sessions: 2 },
        { channel: 'cold', clients: 1, sessions: 1 },
      ],
      scanned: 4,
      complete: true,
    });
    expect((await busiest.top(2)).channels.map((c) => c.channel)).toEqual(['hot', 'warm']);

    // Within maxAgeMs the same ranking is answered; a fresh one (maxAgeMs 0) sees the change.
    await join(f, 'd1', 'dee', ['cold']);
    await join(f, 'e1', 'eve', ['cold']);
    await join(f, 'g1', 'gil', ['cold']);
    expect(await busiest.top(10)).toEqual(all);
    const fresh = await new BusiestChannels(f.channels, { maxAgeMs: 0 }).top(1);
    expect(fresh.channels).toEqual([{ channel: 'cold', clients: 4, sessions: 4 }]);
  });

  it('walks at most maxPages pages and says the ranking is incomplete; unbounded, it sees every channel', async () => {
    const f = fixture();
    // 1200 channels (about 5 keys each: more than one SCAN call of 1000 on every primary), the
    // busiest with the most clients.
    const names = Array.from({ length: 1_200 }, (_, i) => `ch:${i}`);
    await Promise.all(Array.from({ length: 12 }, (_, s) => join(f, `s${s}`, `user${s}`, names.slice(s * 100, s * 100 + 100))));
    await join(f, 'x1', 'extra1', ['ch:7', 'ch:1100']);
    await join(f, 'x2', 'extra2', ['ch:1100']);

    const bounded = await new BusiestChannels(f.channels, { pageSize: 10, maxPages: 2, maxAgeMs: 0 }).top(5);
    expect(bounded.complete).toBe(false);
    expect(bounded.scanned).toBeGreaterThanOrEqual(20);
    expect(bounded.scanned).toBeLessThan(names.length);
    expect(bounded.channels.length).toBe(5);
    const clients = bounded.channels.map((c) => c.clients);
    expect([...clients].sort((a, b) => b - a)).toEqual(clients);

    const whole = await new BusiestChannels(f.channels, { pageSize: 1_000, maxPages: 100, maxAgeMs: 0 }).top(3);
    expect(whole.complete).toBe(true);
    expect(whole.scanned).toBe(names.length);
    expect(whole.channels).toEqual([
      { channel: 'ch:1100', clients: 3, sessions: 3 },
      { channel: 'ch:7', clients: 2, sessions: 2 },
      { channel: 'ch:0', clients: 1, sessions: 1 },
    ]);
  });
});
