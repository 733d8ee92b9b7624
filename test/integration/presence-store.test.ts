import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { KeySpace, PresenceStore, sessionMember, type PresenceEvent, type WriteOp, type WriteResult } from '@presence/presence-store';
import { eventFromMessage } from '@presence/wire-format';
import { connectTestRedis, createTestStore, testPrefix } from '../support/test-store.js';
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

/** When Redis registered a session: the `now` of its add. */
function registeredAt(result: WriteResult): number {
  if (!result.ok || result.kind !== 'add') throw new Error(`not a successful add: ${JSON.stringify(result)}`);
  return result.now;
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
    expect(await store.write({ kind: 'state', sessionId: 's1', clientId: 'dave', stateJson: '{"mood":"ok"}' })).toMatchObject({
      stored: true,
    });
    expect(await store.write({ kind: 'state', sessionId: 'nope', clientId: 'dave', stateJson: '{}' })).toMatchObject({ stored: false });
    expect((await store.getClient('dave')).sessions[0]?.meta).toEqual({ mood: 'ok' });
  });
});

describe('refresh and sweep', () => {
  it('renews existing deadlines only and reports missing sessions', async () => {
    const store = createTestStore(redis, { shards: 1 });
    await store.write(add('s1', 'erin', 1_000));
    const refreshed = await store.write({
      kind: 'refresh',
      ttlMs: 30_000,
      sessions: [
        { sessionId: 's1', clientId: 'erin' },
        { sessionId: 'gone', clientId: 'erin' },
      ],
    });
    expect(refreshed).toMatchObject({ missing: ['gone'] });
    const deadline = Number(await redis.zscore(store.keys.shard(0).deadlines, sessionMember('s1', 'erin')));
    expect(deadline - (await redisNow())).toBeGreaterThan(20_000);
    expect(await redis.zscore(store.keys.shard(0).deadlines, sessionMember('gone', 'erin'))).toBeNull();
  });

  it('refreshes sessions of every shard, many more than one script call takes, and names the missing ones', async () => {
    const store = createTestStore(redis, { shards: 2 });
    // More sessions per shard than Lua's unpack takes (8000): only calls of up to 1000 can renew them.
    const sessions = Array.from({ length: 20_000 }, (_, i) => ({ sessionId: `s${i}`, clientId: `c${i % 5_000}` }));
    const added = await store.execute(sessions.map(({ sessionId, clientId }) => add(sessionId, clientId, 1_000)));
    expect(added.every((result) => result.ok)).toBe(true);
    const unknown = [
      { sessionId: 'gone-1', clientId: 'c1' },
      { sessionId: 'gone-2', clientId: 'someone-else' },
    ];
    const before = await redisNow();
    const refreshed = await store.write({
      kind: 'refresh',
      ttlMs: 60_000,
      sessions: [...unknown.slice(0, 1), ...sessions, ...unknown.slice(1)],
    });
    expect(refreshed.kind === 'refresh' && refreshed.missing.sort()).toEqual(['gone-1', 'gone-2']);
    expect(refreshed.kind === 'refresh' && refreshed.now).toBeGreaterThanOrEqual(before);
    const renewed = await Promise.all(
      store.keys.allShards().map(async (keys) => {
        const [, earliest] = await redis.zrange(keys.deadlines, '0', '0', 'WITHSCORES');
        return { sessions: await redis.zcard(keys.deadlines), earliest: Number(earliest) };
      }),
    );
    expect(renewed.reduce((sum, shard) => sum + shard.sessions, 0)).toBe(sessions.length);
    for (const shard of renewed) {
      expect(shard.sessions).toBeGreaterThan(8_000);
      expect(shard.earliest).toBeGreaterThanOrEqual(before + 60_000);
    }
  });

  it('refreshing no session still reports Redis time', async () => {
    const store = createTestStore(redis);
    const before = await redisNow();
    const refreshed = await store.write({ kind: 'refresh', ttlMs: 1_000, sessions: [] });
    expect(refreshed).toMatchObject({ kind: 'refresh', missing: [] });
    expect(refreshed.kind === 'refresh' && refreshed.now).toBeGreaterThanOrEqual(before);
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
    const soon = registeredAt(await store.write(add('s1', 'early', 1)));
    const later = registeredAt(await store.write(add('s2', 'late', 60_000)));
    const start = await redisNow();
    await waitFor(async () => (await redisNow()) >= start + 5, { what: 'the first deadline to pass' });

    const swept = await store.sweepShard(0, 100);
    expect(swept).toMatchObject({ removed: 1, offline: 1, more: false });
    // The deadline left is the long-lived session's: now + 60 s as Redis stamped it at the add.
    expect(swept.nextDeadline).toBe(later + 60_000);
    expect(soon + 1).toBeLessThanOrEqual(swept.now);

    // Nothing due: the sweep reads the earliest deadline and touches nothing else.
    const idle = await store.sweepShard(0, 100);
    expect(idle).toMatchObject({ removed: 0, offline: 0, more: false, nextDeadline: later + 60_000 });
  });

  it('forgets last-seen times past their TTL only when asked to', async () => {
    const store = createTestStore(redis, { shards: 1, lastSeenTtlMs: 1_000 });
    await store.write(add('s1', 'gone'));
    await store.write({ kind: 'remove', sessionId: 's1', clientId: 'gone', reason: 'leave' });
    const seenAt = (await store.getClient('gone')).lastSeenAt as number;
    await waitFor(async () => (await redisNow()) > seenAt + 1_000, { what: 'the last-seen TTL to pass' });

    await store.sweepShard(0, 100, { trimLastSeen: false });
    expect((await store.getClient('gone')).lastSeenAt).toBe(seenAt);
    await store.sweepShard(0, 100, { trimLastSeen: true });
    expect((await store.getClient('gone')).lastSeenAt).toBeNull();
  });

  it('a sweep that reaches Redis after its not-after time sweeps nothing', async () => {
    const store = createTestStore(redis, { shards: 1 });
    const added = await store.write(add('s1', 'queued', 1));
    const addedAt = added.kind === 'add' ? added.now : 0;
    await waitFor(async () => (await redisNow()) > addedAt + 5, { what: 'the deadline to pass' });

    // As if it had waited in a client's queue through an outage: too late, so nothing is expired.
    const late = await store.sweepShard(0, 100, { notAfter: addedAt });
    expect(late).toMatchObject({ removed: 0, offline: 0, late: true });
    expect((await store.getClient('queued')).online).toBe(true);

    const onTime = await store.sweepShard(0, 100, { notAfter: (await redisNow()) + 1_000 });
    expect(onTime).toMatchObject({ removed: 1, offline: 1, late: false });
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
    expect(stats.nodes).toMatchObject([{ node: 'n1', sessions: 3, alive: true, version: null }]);
  });

  it("reports each node's version, and keeps sweepers apart from the edge nodes", async () => {
    const prefix = testPrefix();
    const store = new PresenceStore(redis, {
      keys: new KeySpace(prefix, 2),
      eventsMaxLen: 1_000,
      lastSeenTtlMs: 60_000,
      nodeVersion: '1.2.3-rc.1',
    });
    await store.nodeBeat('edge-a', 10_000, 5, 100, 60_000);
    await store.sweeperBeat('sweeper-a', 10_000, 200, 60_000);
    expect(await store.nodes()).toEqual([
      { node: 'edge-a', sessions: 5, startedAt: 100, lastSeenAt: expect.any(Number), version: '1.2.3-rc.1', alive: true },
    ]);
    expect(await store.sweepers()).toEqual([
      { node: 'sweeper-a', sessions: 0, startedAt: 200, lastSeenAt: expect.any(Number), version: '1.2.3-rc.1', alive: true },
    ]);
    await store.removeSweeper('sweeper-a');
    expect(await store.sweepers()).toEqual([]);
    expect((await store.stats()).nodes.map((node) => node.node)).toEqual(['edge-a']);
    expect(
      () => new PresenceStore(redis, { keys: new KeySpace(prefix, 2), eventsMaxLen: 1, lastSeenTtlMs: 1, nodeVersion: '1"}' }),
    ).toThrow(/nodeVersion must be/);
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
    const swept = await waitFor(
      async () => {
        const result = await store.sweepShard(0, 100);
        return result.removed === 1 ? result : false;
      },
      { what: 'the grace to run out' },
    );
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
    expect((await allEvents(store)).map((e) => [e.type, e.reason, e.node, e.at])).toEqual([['offline', 'leave', 'n9', registeredAt + 500]]);
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

describe('batched session ends (remove-sessions)', () => {
  type Remove = WriteOp & { kind: 'remove' };
  const remove = (sessionId: string, clientId: string, reason: Remove['reason'], extra: Partial<Remove> = {}): Remove => ({
    kind: 'remove',
    sessionId,
    clientId,
    reason,
    ...extra,
  });
  const summary = (results: WriteResult[]) =>
    results.map((r) =>
      !r.ok
        ? ['failed', r.kind]
        : r.kind === 'remove'
          ? [r.kind, r.existed, r.eventId !== null]
          : [r.kind, 'eventId' in r && r.eventId !== null],
    );

  it('ends several sessions of one client in one call with one offline event, at the last', async () => {
    const store = createTestStore(redis, { shards: 1 });
    await store.execute([add('s1', 'lena'), add('s2', 'lena', 60_000, 'n2'), add('s3', 'lena')]);
    await store.write({ kind: 'state', sessionId: 's2', clientId: 'lena', stateJson: '{"x":1}' });
    const results = await store.execute([remove('s1', 'lena', 'leave'), remove('s2', 'lena', 'closed'), remove('s3', 'lena', 'timeout')]);
    expect(summary(results)).toEqual([
      ['remove', true, false],
      ['remove', true, false],
      ['remove', true, true],
    ]);
    const events = await allEvents(store);
    expect(events.map((e) => [e.type, e.sessionId, e.reason])).toEqual([
      ['online', 's1', null],
      ['offline', 's3', 'timeout'],
    ]);
    expect(await store.getClient('lena')).toMatchObject({ online: false, sessions: [], lastSeenAt: events[1]?.at });
    // Every key of the shard is left as a single remove leaves it: nothing of lena but her last-seen time.
    const keys = store.keys.shard(0);
    expect(await redis.zcard(keys.deadlines)).toBe(0);
    expect(await redis.hlen(keys.meta)).toBe(0);
    expect(await redis.zcard(keys.online)).toBe(0);
    expect(await redis.hlen(keys.since)).toBe(0);
    expect(await redis.zscore(keys.lastseen, 'lena')).toBe(String(events[1]?.at));
  });

  it('mixes leave, closed with a grace and sessions Redis does not know in one call', async () => {
    const store = createTestStore(redis, { shards: 1 });
    await store.execute([add('m1', 'mo'), add('n1', 'nia'), add('p1', 'pat'), add('p2', 'pat')]);
    const registeredAt = (await redisNow()) - 1_000;
    const results = await store.execute([
      remove('m1', 'mo', 'leave'),
      remove('n1', 'nia', 'closed', { graceMs: 60_000 }),
      remove('lost', 'oz', 'closed', { graceMs: 60_000, node: 'n9', registeredAt, endedAt: registeredAt + 200 }),
      // Unknown, but the client still has sessions, or nothing says it was ever registered: no event.
      remove('lost', 'pat', 'leave', { registeredAt }),
      remove('lost', 'quin', 'leave'),
      remove('p1', 'pat', 'shutdown', { graceMs: 60_000 }),
    ]);
    expect(summary(results)).toEqual([
      ['remove', true, true],
      ['remove', true, false],
      ['remove', false, true],
      ['remove', false, false],
      ['remove', false, false],
      ['remove', true, false],
    ]);
    const offline = (await allEvents(store)).filter((e) => e.type === 'offline');
    expect(offline.map((e) => [e.clientId, e.reason, e.node]).sort()).toEqual([
      ['mo', 'leave', 'n1'],
      ['oz', 'closed', 'n9'],
    ]);
    expect(offline.find((e) => e.clientId === 'oz')?.at).toBe(registeredAt + 200);
    const nia = await store.getClient('nia');
    expect(nia.online).toBe(true);
    expect(nia.sessions[0]?.endedAt).toEqual(expect.any(Number));
    const pat = await store.getClient('pat');
    expect(pat.sessions.map((s) => [s.sessionId, s.endedAt !== null])).toEqual([
      ['p1', true],
      ['p2', false],
    ]);
  });

  it('ends the same session given twice in one call once, with one event', async () => {
    const store = createTestStore(redis, { shards: 1 });
    const added = await store.write(add('r1', 'rex'));
    await store.write(add('t1', 'tia'));
    const registeredAt = added.kind === 'add' ? added.now : 0;
    const results = await store.execute([
      remove('r1', 'rex', 'closed', { registeredAt }),
      // Retried within the same call: unknown now, and an offline was recorded since it was registered.
      remove('r1', 'rex', 'leave', { registeredAt }),
      remove('t1', 'tia', 'closed', { graceMs: 60_000 }),
      remove('t1', 'tia', 'shutdown', { graceMs: 60_000 }),
      remove('t1', 'tia', 'leave'),
    ]);
    expect(summary(results)).toEqual([
      ['remove', true, true],
      ['remove', false, false],
      ['remove', true, false],
      ['remove', true, false],
      ['remove', true, false],
    ]);
    const offline = (await allEvents(store)).filter((e) => e.type === 'offline');
    expect(offline.map((e) => [e.clientId, e.reason])).toEqual([['rex', 'closed']]);
    // The first end of a lingering session wins.
    const tia = await store.getClient('tia');
    expect(tia.online).toBe(true);
    expect(await redis.hget(store.keys.client('tia'), 't1')).toContain('"reason":"closed"');
  });

  it('gives the same results, events and state as the same removes one call each', async () => {
    const run = async (batched: boolean) => {
      const store = createTestStore(redis, { shards: 1 });
      await store.execute([add('a1', 'ann'), add('a2', 'ann'), add('b1', 'ben'), add('c1', 'cy'), add('c2', 'cy')]);
      const ops: Remove[] = [
        remove('a1', 'ann', 'leave'),
        remove('b1', 'ben', 'closed', { graceMs: 60_000 }),
        remove('a2', 'ann', 'closed'),
        remove('a2', 'ann', 'leave', { registeredAt: 1 }),
        remove('gone', 'ann', 'leave', { registeredAt: 1 }),
        remove('c1', 'cy', 'shutdown', { graceMs: 60_000 }),
        remove('c2', 'cy', 'timeout'),
        remove('b1', 'ben', 'leave'),
        remove('x1', 'xena', 'leave', { registeredAt: 1, node: 'n7' }),
        remove('x2', 'xena', 'leave', { registeredAt: 1, node: 'n7' }),
      ];
      const results = batched ? await store.execute(ops) : await Promise.all(ops.map((op) => store.write(op)));
      const events = (await allEvents(store)).map((e) => [e.type, e.clientId, e.sessionId, e.reason]);
      const clients = await Promise.all(['ann', 'ben', 'cy', 'xena'].map((id) => store.getClient(id)));
      const state = clients.map((c) => [
        c.clientId,
        c.online,
        c.lastSeenAt !== null,
        c.sessions.map((s) => [s.sessionId, s.endedAt !== null]),
      ]);
      return { results: summary(results), events, state };
    };
    const oneByOne = await run(false);
    expect(await run(true)).toEqual(oneByOne);
    // cy's shutdown lingers, but its timeout ended later: that end takes cy offline (docs/data-model.md).
    expect(oneByOne.events.filter((e) => e[0] === 'offline')).toEqual([
      ['offline', 'ann', 'a2', 'closed'],
      ['offline', 'cy', 'c2', 'timeout'],
      ['offline', 'xena', 'x1', 'leave'],
    ]);
  });

  it('keeps results in op order across shards and splits long runs of removes', async () => {
    const store = createTestStore(redis, { shards: 4 });
    const ids = Array.from({ length: 1_200 }, (_, i) => `user-${i}`);
    await store.execute(ids.map((id, i) => add(`s${i}`, id)));
    // Every third session is unknown (no registeredAt): existed false, no event.
    const ops = ids.map((id, i) => remove(i % 3 === 0 ? `nope${i}` : `s${i}`, id, 'leave'));
    const results = await store.execute(ops);
    expect(results.map((r) => r.ok && r.kind === 'remove' && r.existed)).toEqual(ids.map((_, i) => i % 3 !== 0));
    expect(results.map((r) => r.ok && r.kind === 'remove' && r.eventId !== null)).toEqual(ids.map((_, i) => i % 3 !== 0));
    const offline = (await allEvents(store)).filter((e) => e.type === 'offline');
    expect(offline.length).toBe(800);
    const eventOf = new Map(offline.map((e) => [e.clientId, e.id]));
    results.forEach((r, i) => {
      if (r.ok && r.kind === 'remove' && r.eventId !== null)
        expect(`${store.keys.shardOf(ids[i] as string)}-${r.eventId}`).toBe(eventOf.get(ids[i] as string));
    });
    expect((await store.stats()).onlineClients).toBe(400);
  });

  it('keeps adds and removes of one client in the order given within one execute', async () => {
    const store = createTestStore(redis, { shards: 2 });
    const results = await store.execute([
      add('u1', 'uma'),
      remove('u1', 'uma', 'leave'),
      add('u2', 'uma'),
      remove('u2', 'uma', 'closed', { graceMs: 60_000 }),
      add('u3', 'uma'),
      remove('v1', 'vic', 'leave'),
      add('v1', 'vic'),
    ]);
    expect(summary(results)).toEqual([
      ['add', true],
      ['remove', true, true],
      ['add', true],
      ['remove', true, false],
      ['add', false],
      ['remove', false, false],
      ['add', true],
    ]);
    expect((await allEvents(store)).filter((e) => e.clientId === 'uma').map((e) => [e.type, e.sessionId])).toEqual([
      ['online', 'u1'],
      ['offline', 'u1'],
      ['online', 'u2'],
    ]);
    const uma = await store.getClient('uma');
    expect(uma.sessions.map((s) => s.sessionId)).toEqual(['u3']);
    expect((await store.getClient('vic')).online).toBe(true);
  });

  it('fails exactly the ops of a call Redis refused', async () => {
    const store = createTestStore(redis, { shards: 1 });
    await store.execute([add('w1', 'wes'), add('y1', 'yan')]);
    // A client key of the wrong type makes the script fail on it.
    await redis.set(store.keys.client('zed'), 'not a hash');
    const results = await store.execute([
      remove('w1', 'wes', 'leave'),
      add('w2', 'wes'),
      remove('z1', 'zed', 'leave'),
      add('y2', 'yan'),
      remove('y1', 'yan', 'leave'),
    ]);
    expect(summary(results)).toEqual([
      ['remove', true, true],
      ['add', true],
      ['failed', 'remove'],
      ['add', false],
      ['remove', true, false],
    ]);
    const failure = results[2];
    expect(failure?.ok === false && failure.error.message).toMatch(/WRONGTYPE/);
  });
});

describe('event encoding (emit-event.lua against @presence/wire-format)', () => {
  it('publishes every event as JSON that decodes to its stream entry, for ids and node names that need escaping', async () => {
    const store = createTestStore(redis, { shards: 2 });
    const published: string[] = [];
    const listener = (channel: string, message: string) => {
      if (channel === store.keys.eventsChannel) published.push(message);
    };
    subscriber.on('message', listener);
    await subscriber.subscribe(store.keys.eventsChannel);

    // Client ids are validated before a real client reaches the store; these are not, so that the
    // hand-built JSON meets everything cjson must escape (and a slash, which cjson escapes and
    // JSON.stringify does not), plus multi-byte UTF-8.
    const odd = ['quote"d', 'back\\slash', 'new\nline\ttab', 'ctrl\u0001\u001f\u007f', 'slash/</script>', 'unicode é ✓ 𝄞', "brace{d} it's"];
    const now = await redisNow();
    for (const [i, text] of odd.entries()) {
      const clientId = `c${i}-${text}`;
      const node = `node ${text}`;
      // online, then offline by `leave`
      await store.write(add(`a${i}-${text}`, clientId, 60_000, node));
      await store.write({ kind: 'remove', sessionId: `a${i}-${text}`, clientId, reason: 'leave', node });
      // online, lingering after `closed`, then offline by the sweeper with its own reason and end time
      await store.write(add(`b${i}-${text}`, clientId, 60_000, node));
      await store.write({ kind: 'remove', sessionId: `b${i}-${text}`, clientId, reason: 'closed', graceMs: 1, endedAt: now, node });
      // online, then expired
      await store.write(add(`c${i}-${text}`, `${clientId}-x`, 1, node));
      // offline for a session Redis never knew (it lost the client's state)
      await store.write({
        kind: 'remove',
        sessionId: `d${i}-${text}`,
        clientId: `${clientId}-y`,
        reason: 'timeout',
        node,
        registeredAt: now,
      });
    }
    // Every deadline is at most 1 ms after the last write (the loop may take longer than that).
    const written = await redisNow();
    await waitFor(async () => (await redisNow()) > written + 1, { what: 'deadlines to pass' });
    for (let shard = 0; shard < store.keys.shardCount; shard += 1) await store.sweepShard(shard, 1_000);

    const stored = (await allEvents(store)).sort((a, b) => a.id.localeCompare(b.id));
    expect(stored.length).toBe(7 * odd.length);
    expect(new Set(stored.map((event) => event.reason))).toEqual(new Set([null, 'leave', 'closed', 'expired', 'timeout']));
    expect(new Set(stored.map((event) => event.node))).toEqual(new Set(odd.map((text) => `node ${text}`)));
    await waitFor(() => published.length === stored.length, { what: 'a message per event' });
    const decoded = published.map((message) => eventFromMessage(message)).sort((a, b) => (a?.id ?? '').localeCompare(b?.id ?? ''));
    expect(decoded).toEqual(stored);
    subscriber.off('message', listener);
    await subscriber.unsubscribe(store.keys.eventsChannel);
  });
});
