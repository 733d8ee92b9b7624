import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { sessionMember, type PresenceEvent, type PresenceStore } from '@presence/presence-store';
import { connectTestRedis, createTestStore } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

let redis: Redis;
let subscriber: Redis;

beforeAll(() => {
  redis = connectTestRedis();
  subscriber = connectTestRedis();
});

afterAll(() => {
  redis.disconnect();
  subscriber.disconnect();
});

async function allEvents(store: PresenceStore): Promise<PresenceEvent[]> {
  const events: PresenceEvent[] = [];
  for (let shard = 0; shard < store.keys.shardCount; shard += 1) {
    for (const streamed of await store.readEvents(shard, '0-0', 10_000)) events.push(streamed.event);
  }
  return events.sort((a, b) => a.at - b.at);
}

async function redisNow(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

const add = (sessionId: string, clientId: string, ttlMs = 60_000, node = 'n1') =>
  ({ kind: 'add', sessionId, clientId, node, ttlMs, stateJson: null }) as const;

describe('session transitions', () => {
  it('brings a client online with its first session and offline with its last, one event each', async () => {
    const store = createTestStore(redis);
    const published: string[] = [];
    await subscriber.subscribe(store.keys.eventsChannel);
    subscriber.on('message', (channel, message) => {
      if (channel === store.keys.eventsChannel) published.push(message);
    });

    const first = await store.write(add('s1', 'alice'));
    expect(first.kind === 'add' && first.eventId).toBeTruthy();
    const second = await store.write(add('s2', 'alice', 60_000, 'n2'));
    expect(second.kind === 'add' && second.eventId).toBeNull();

    const presence = await store.getClient('alice');
    expect(presence.online).toBe(true);
    expect(presence.sessions.map((s) => [s.sessionId, s.node])).toEqual([
      ['s1', 'n1'],
      ['s2', 'n2'],
    ]);

    const leaveOne = await store.write({ kind: 'remove', sessionId: 's1', clientId: 'alice', reason: 'leave' });
    expect(leaveOne).toMatchObject({ existed: true, eventId: null });
    const leaveLast = await store.write({ kind: 'remove', sessionId: 's2', clientId: 'alice', reason: 'closed' });
    expect(leaveLast).toMatchObject({ existed: true });
    const again = await store.write({ kind: 'remove', sessionId: 's2', clientId: 'alice', reason: 'closed' });
    expect(again).toMatchObject({ existed: false, eventId: null });

    const events = await allEvents(store);
    expect(events.map((e) => [e.type, e.clientId, e.sessionId, e.node, e.reason])).toEqual([
      ['online', 'alice', 's1', 'n1', null],
      ['offline', 'alice', 's2', 'n2', 'closed'],
    ]);
    const after = await store.getClient('alice');
    expect(after).toMatchObject({ online: false, sessions: [], lastSeenAt: events[1]?.at });

    await waitFor(() => published.length === 2, { what: 'two pub/sub messages' });
    expect(published.map((m) => JSON.parse(m) as PresenceEvent)).toEqual(events);
    await subscriber.unsubscribe(store.keys.eventsChannel);
  });

  it('re-registering an existing session renews it without a second online event', async () => {
    const store = createTestStore(redis);
    await store.write(add('s1', 'bob'));
    const again = await store.write(add('s1', 'bob'));
    expect(again).toMatchObject({ eventId: null });
    expect((await allEvents(store)).length).toBe(1);
  });

  it('takes every timestamp from Redis TIME', async () => {
    const store = createTestStore(redis);
    const before = await redisNow();
    const result = await store.write(add('s1', 'carol', 5_000));
    const after = await redisNow();
    const presence = await store.getClient('carol');
    const session = presence.sessions[0];
    expect(session?.connectedAt).toBeGreaterThanOrEqual(before);
    expect(session?.connectedAt).toBeLessThanOrEqual(after);
    expect(result.kind === 'add' && result.now).toBe(session?.connectedAt);
    const keys = store.keys.shard(store.keys.shardOf('carol'));
    const deadline = Number(await redis.zscore(keys.deadlines, sessionMember('s1', 'carol')));
    expect(deadline).toBe((session?.connectedAt ?? 0) + 5_000);
  });

  it('stores PING state only for live sessions', async () => {
    const store = createTestStore(redis);
    await store.write(add('s1', 'dave'));
    expect(await store.write({ kind: 'state', sessionId: 's1', clientId: 'dave', stateJson: '{"mood":"ok"}' })).toMatchObject({ stored: true });
    expect(await store.write({ kind: 'state', sessionId: 'nope', clientId: 'dave', stateJson: '{}' })).toMatchObject({ stored: false });
    expect((await store.getClient('dave')).sessions[0]?.meta).toEqual({ mood: 'ok' });
  });
});

describe('refresh and sweep', () => {
  it('renews existing deadlines only and reports missing sessions', async () => {
    const store = createTestStore(redis, { shards: 1 });
    await store.write(add('s1', 'erin', 1_000));
    const refreshed = await store.write({
      kind: 'refresh', shard: 0, ttlMs: 30_000, members: [sessionMember('s1', 'erin'), sessionMember('gone', 'erin')],
    });
    expect(refreshed).toMatchObject({ missing: [sessionMember('gone', 'erin')] });
    const deadline = Number(await redis.zscore(store.keys.shard(0).deadlines, sessionMember('s1', 'erin')));
    expect(deadline - (await redisNow())).toBeGreaterThan(20_000);
    expect(await redis.zscore(store.keys.shard(0).deadlines, sessionMember('gone', 'erin'))).toBeNull();
  });

  it('expires sessions whose deadline passed, and two racing sweeps write one event', async () => {
    const store = createTestStore(redis, { shards: 1 });
    const racer = connectTestRedis();
    const other = createTestStore(racer, { prefix: store.keys.prefix, shards: 1 });
    for (let i = 0; i < 50; i += 1) await store.write(add(`s${i}`, `client-${i}`, 1));
    await store.write(add('live', 'stays', 60_000));
    await waitFor(async () => (await redisNow()) > 0, { what: 'clock' });
    const start = await redisNow();
    await waitFor(async () => (await redisNow()) >= start + 5, { what: 'deadlines to pass' });

    const [a, b] = await Promise.all([store.sweepShard(0, 1000), other.sweepShard(0, 1000)]);
    expect(a.removed + b.removed).toBe(50);
    const offline = (await allEvents(store)).filter((e) => e.type === 'offline');
    expect(offline.length).toBe(50);
    expect(new Set(offline.map((e) => e.clientId)).size).toBe(50);
    expect(offline.every((e) => e.reason === 'expired')).toBe(true);
    expect((await store.getClient('stays')).online).toBe(true);
    racer.disconnect();
  });

  it('sweeps in bounded batches', async () => {
    const store = createTestStore(redis, { shards: 1 });
    for (let i = 0; i < 25; i += 1) await store.write(add(`s${i}`, `c${i}`, 1));
    const start = await redisNow();
    await waitFor(async () => (await redisNow()) >= start + 5, { what: 'deadlines to pass' });
    const first = await store.sweepShard(0, 10);
    expect(first).toMatchObject({ removed: 10, offline: 10, more: true });
    // Another expired session is still there: the earliest deadline left is already past.
    expect(first.nextDeadline).not.toBeNull();
    expect(first.nextDeadline as number).toBeLessThanOrEqual(first.now);
    await store.sweepShard(0, 10);
    const last = await store.sweepShard(0, 10);
    expect(last).toMatchObject({ removed: 5, offline: 5, more: false, nextDeadline: null });
  });

  it('reports the earliest deadline left, which is when the shard next needs a sweep', async () => {
    const store = createTestStore(redis, { shards: 1 });
    const soon = await store.write(add('s1', 'early', 1));
    const later = await store.write(add('s2', 'late', 60_000));
    const start = await redisNow();
    await waitFor(async () => (await redisNow()) >= start + 5, { what: 'the first deadline to pass' });

    const swept = await store.sweepShard(0, 100);
    expect(swept).toMatchObject({ removed: 1, offline: 1, more: false });
    // The deadline left is the long-lived session's: now + 60 s as Redis stamped it at the add.
    expect(swept.nextDeadline).toBe(later.now + 60_000);
    expect(soon.now + 1).toBeLessThanOrEqual(swept.now);

    // Nothing due: the sweep reads the earliest deadline and touches nothing else.
    const idle = await store.sweepShard(0, 100);
    expect(idle).toMatchObject({ removed: 0, offline: 0, more: false, nextDeadline: later.now + 60_000 });
  });

  it('forgets last-seen times past their TTL only when asked to', async () => {
    const store = createTestStore(redis, { shards: 1, lastSeenTtlMs: 1_000 });
    await store.write(add('s1', 'gone'));
    await store.write({ kind: 'remove', sessionId: 's1', clientId: 'gone', reason: 'leave' });
    const seenAt = (await store.getClient('gone')).lastSeenAt as number;
    await waitFor(async () => (await redisNow()) > seenAt + 1_000, { what: 'the last-seen TTL to pass' });

    await store.sweepShard(0, 100, false);
    expect((await store.getClient('gone')).lastSeenAt).toBe(seenAt);
    await store.sweepShard(0, 100, true);
    expect((await store.getClient('gone')).lastSeenAt).toBeNull();
  });
});

describe('queries', () => {
  it('answers bulk queries in request order across shards', async () => {
    const store = createTestStore(redis, { shards: 8 });
    await store.write(add('s1', 'u1'));
    await store.write(add('s2', 'u2'));
    await store.write({ kind: 'remove', sessionId: 's2', clientId: 'u2', reason: 'leave' });
    const results = await store.query(['u3', 'u1', 'u2']);
    expect(results.map((r) => [r.clientId, r.online, r.lastSeenAt !== null])).toEqual([
      ['u3', false, false],
      ['u1', true, true],
      ['u2', false, true],
    ]);
  });

  it('pages through online clients without repeats or gaps', async () => {
    const store = createTestStore(redis, { shards: 4 });
    const ids = Array.from({ length: 23 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
    await store.execute(ids.map((id, i) => add(`s${i}`, id)));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { clients: string[]; nextCursor: string | null } = await store.listOnline(cursor, 5);
      seen.push(...page.clients);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 20);
    expect(seen.sort()).toEqual(ids);
    await expect(store.listOnline('garbage', 5)).rejects.toMatchObject({ code: 'bad_cursor' });
  });

  it('counts clients, sessions and nodes', async () => {
    const store = createTestStore(redis, { shards: 2 });
    await store.execute([add('a1', 'x'), add('a2', 'x'), add('b1', 'y')]);
    await store.nodeBeat('n1', 10_000, 3, 1, 60_000);
    const stats = await store.stats();
    expect(stats.onlineClients).toBe(2);
    expect(stats.sessions).toBe(3);
    expect(stats.nodes).toMatchObject([{ node: 'n1', sessions: 3, alive: true }]);
  });
});

describe('offline grace, real end times and lost state', () => {
  const remove = (sessionId: string, clientId: string, reason: 'closed' | 'shutdown' | 'leave', extra: object = {}) =>
    ({ kind: 'remove', sessionId, clientId, reason, ...extra }) as const;

  it('a closed session lingers for the grace; a return within it writes no event at all', async () => {
    const store = createTestStore(redis);
    await store.write(add('s1', 'gina'));
    expect(await store.write(remove('s1', 'gina', 'closed', { graceMs: 60_000 }))).toMatchObject({ eventId: null, existed: true });
    const lingering = await store.getClient('gina');
    expect(lingering.online).toBe(true);
    expect(lingering.sessions[0]?.endedAt).toEqual(expect.any(Number));
    expect(await store.write(add('s2', 'gina'))).toMatchObject({ eventId: null });
    expect((await store.getClient('gina')).sessions.map((s) => s.sessionId)).toEqual(['s2']);
    await store.write(remove('s2', 'gina', 'leave'));
    expect((await allEvents(store)).map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'leave'],
    ]);
  });

  it('when the grace runs out the sweeper reports the real reason and end time', async () => {
    const store = createTestStore(redis, { shards: 1 });
    const added = await store.write(add('s1', 'hank'));
    const endedAt = (added.kind === 'add' ? added.now : 0) + 3;
    await waitFor(async () => (await redisNow()) > endedAt + 5, { what: 'the end time to be in the past' });
    await store.write(remove('s1', 'hank', 'shutdown', { graceMs: 20, endedAt }));
    const swept = await waitFor(async () => {
      const result = await store.sweepShard(0, 100);
      return result.removed === 1 ? result : false;
    }, { what: 'the grace to run out' });
    expect(swept.offline).toBe(1);
    const offline = (await allEvents(store)).find((e) => e.type === 'offline');
    expect(offline).toMatchObject({ reason: 'shutdown', at: endedAt, sessionId: 's1' });
    expect((await store.getClient('hank')).lastSeenAt).toBe(endedAt);
  });

  it('a leave that reaches Redis late carries the time the edge saw it', async () => {
    const store = createTestStore(redis);
    const added = await store.write(add('s1', 'ivy'));
    const connectedAt = added.kind === 'add' ? added.now : 0;
    const start = await redisNow();
    await waitFor(async () => (await redisNow()) > start + 20, { what: 'time to pass' });
    await store.write(remove('s1', 'ivy', 'leave', { endedAt: connectedAt + 5 }));
    expect((await allEvents(store))[1]).toMatchObject({ type: 'offline', at: connectedAt + 5 });
  });

  it('reports a session Redis lost (empty restart) offline exactly once', async () => {
    const store = createTestStore(redis);
    const registeredAt = (await redisNow()) - 1_000;
    const op = remove('lost', 'jill', 'leave', { node: 'n9', registeredAt, endedAt: registeredAt + 500 });
    expect(await store.write(op)).toMatchObject({ existed: false, eventId: expect.any(String) });
    expect(await store.write(op)).toMatchObject({ existed: false, eventId: null });
    expect((await allEvents(store)).map((e) => [e.type, e.reason, e.node, e.at])).toEqual([
      ['offline', 'leave', 'n9', registeredAt + 500],
    ]);
  });

  it('rejects a session over the per-client limit without writing anything', async () => {
    const store = createTestStore(redis);
    const limited = (id: string) => ({ ...add(id, 'kim'), maxSessions: 2 });
    await store.write(limited('s1'));
    await store.write(limited('s2'));
    expect(await store.write(limited('s3'))).toMatchObject({ rejected: 'too_many_sessions', eventId: null });
    expect((await store.getClient('kim')).sessions.map((s) => s.sessionId)).toEqual(['s1', 's2']);
  });
});
