import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { StoreInputError, type ChannelEvent, type ChannelStore } from '@presence/presence-store';
import { channelEventFromMessage } from '@presence/wire-format';
import { connectTestRedis, createTestChannels, type TestChannels } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

/** Channel presence against a real Redis (standalone, or the 3-master cluster with TEST_REDIS_CLUSTER=1). */

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

type Fixture = TestChannels;
const fixture = (): Fixture => createTestChannels(redis);

const add = (sessionId: string, clientId: string, node = 'n1') =>
  ({ kind: 'add', sessionId, clientId, node, ttlMs: 60_000, stateJson: null }) as const;

async function events(channels: ChannelStore, channel: string): Promise<ChannelEvent[]> {
  return (await channels.readEvents(channel, '0-0', 10_000)).map((streamed) => streamed.event);
}

const brief = (list: ChannelEvent[]) => list.map((e) => `${e.type} ${e.clientId}${e.reason === null ? '' : ` ${e.reason}`}`);

/** Applies every due outbox entry of every shard. */
async function drainAll(f: Fixture): Promise<void> {
  for (let shard = 0; shard < f.store.keys.shardCount; shard += 1) {
    for (;;) if (!(await f.channels.drainOutbox(shard, 100)).more) break;
  }
}

describe('joining and leaving', () => {
  it('writes join when a client first joins and leave when its last session leaves, with occupancy and versions', async () => {
    const f = fixture();
    await f.store.write(add('a1', 'alice'));
    await f.store.write(add('a2', 'alice'));
    await f.store.write(add('b1', 'bob'));
    const a1 = { sessionId: 'a1', clientId: 'alice' };
    const a2 = { sessionId: 'a2', clientId: 'alice' };
    const b1 = { sessionId: 'b1', clientId: 'bob' };

    const first = await f.channels.join(a1, 'room:1', 'n1', '{"mood":"ok"}', 100);
    expect(first).toMatchObject({ status: 'joined', occupancy: { clients: 1, sessions: 1 } });
    expect(first.eventId).not.toBeNull();
    const second = await f.channels.join(a2, 'room:1', 'n2', null, 100);
    expect(second).toMatchObject({ status: 'joined', occupancy: { clients: 1, sessions: 2 }, eventId: null });
    await f.channels.join(b1, 'room:1', 'n1', null, 100);
    expect(await f.channels.occupancy('room:1')).toEqual({ clients: 2, sessions: 3 });

    expect((await f.channels.leave(a1, 'room:1')).eventId).toBeNull();
    const last = await f.channels.leave(a2, 'room:1');
    expect(last).toMatchObject({ status: 'left', occupancy: { clients: 1, sessions: 1 } });
    expect(await f.channels.leave(a2, 'room:1')).toMatchObject({ status: 'not_joined', eventId: null });

    const list = await events(f.channels, 'room:1');
    expect(brief(list)).toEqual(['join alice', 'join bob', 'leave alice left']);
    expect(list.map((e) => e.occupancy)).toEqual([
      { clients: 1, sessions: 1 },
      { clients: 2, sessions: 3 },
      { clients: 1, sessions: 1 },
    ]);
    const versions = list.map((e) => e.version);
    expect([...versions].sort((x, y) => x - y)).toEqual(versions);
    expect(new Set(versions).size).toBe(versions.length);
    expect(list[2]).toMatchObject({ channel: 'room:1', sessionId: 'a2', node: 'n2' });
    expect(await f.channels.channelsOf('bob')).toEqual(['room:1']);
    expect(await f.channels.channelsOf('alice')).toEqual([]);
  });

  it('publishes each event as JSON that decodes to what the stream holds', async () => {
    const f = fixture();
    const published: string[] = [];
    await subscriber.subscribe(f.store.keys.channelEventsChannel);
    subscriber.on('message', (channel, message) => {
      if (channel === f.store.keys.channelEventsChannel) published.push(message);
    });
    await f.store.write(add('s1', 'carol'));
    await f.channels.join({ sessionId: 's1', clientId: 'carol' }, 'x/y@z', 'n1', null, 100);
    await f.channels.setState({ sessionId: 's1', clientId: 'carol' }, 'x/y@z', '{"typing":true}');
    await f.channels.leave({ sessionId: 's1', clientId: 'carol' }, 'x/y@z');
    await waitFor(() => published.length === 3, { what: 'three published channel events' });
    expect(published.map(channelEventFromMessage)).toEqual(await events(f.channels, 'x/y@z'));
  });

  it('keeps state per session, returns it with members, and writes update only on a change', async () => {
    const f = fixture();
    await f.store.write(add('s1', 'dave'));
    const dave = { sessionId: 's1', clientId: 'dave' };
    await f.channels.join(dave, 'room', 'n1', '{"a":1}', 100);
    expect((await f.channels.setState(dave, 'room', '{"a":1}')).eventId).toBeNull();
    expect((await f.channels.setState(dave, 'room', '{"a":[]}')).eventId).not.toBeNull();
    expect(await f.channels.setState({ sessionId: 'zz', clientId: 'dave' }, 'room', '{}')).toMatchObject({ status: 'not_joined' });
    const page = await f.channels.members('room', null, 10, true);
    expect(page.members).toEqual([
      { clientId: 'dave', sessions: [{ sessionId: 's1', node: 'n1', joinedAt: expect.any(Number), state: { a: [] } }] },
    ]);
    expect(brief(await events(f.channels, 'room'))).toEqual(['join dave', 'update dave']);

    // One member's sessions (the dashboard's lookup), oldest join first; none where it is not a member.
    await f.store.write(add('s2', 'dave', 'n2'));
    await f.channels.join({ sessionId: 's2', clientId: 'dave' }, 'room', 'n2', null, 100);
    expect(await f.channels.memberSessions('room', 'dave')).toEqual([
      { sessionId: 's1', node: 'n1', joinedAt: expect.any(Number), state: { a: [] } },
      { sessionId: 's2', node: 'n2', joinedAt: expect.any(Number), state: null },
    ]);
    expect(await f.channels.memberSessions('room', 'nobody')).toEqual([]);
    expect(await f.channels.memberSessions('elsewhere', 'dave')).toEqual([]);
    await expect(f.channels.memberSessions('room', 'a b')).rejects.toMatchObject({ code: 'bad_client_id' });
  });

  it('refuses a session over MAX_CHANNELS_PER_SESSION and one that is not live, writing nothing', async () => {
    const f = fixture();
    await f.store.write(add('s1', 'erin'));
    const erin = { sessionId: 's1', clientId: 'erin' };
    expect((await f.channels.join(erin, 'c1', 'n1', null, 2)).status).toBe('joined');
    expect((await f.channels.join(erin, 'c2', 'n1', null, 2)).status).toBe('joined');
    expect((await f.channels.join(erin, 'c1', 'n1', null, 2)).status).toBe('joined');
    expect((await f.channels.join(erin, 'c3', 'n1', null, 2)).status).toBe('too_many_channels');
    expect((await f.channels.join({ sessionId: 'nope', clientId: 'erin' }, 'c3', 'n1', null, 2)).status).toBe('gone');
    expect(await f.channels.occupancy('c3')).toEqual({ clients: 0, sessions: 0 });
    expect(await f.channels.channelsOf('erin')).toEqual(['c1', 'c2']);
  });

  it('gives the occupancy of 2,500 channels in request order, repeats and empty channels included', async () => {
    const f = fixture();
    await f.store.execute([add('o1', 'olga'), add('o2', 'olga'), add('p1', 'pete')]);
    await f.channels.join({ sessionId: 'o1', clientId: 'olga' }, 'occ:7', 'n1', null, 100);
    await f.channels.join({ sessionId: 'o2', clientId: 'olga' }, 'occ:7', 'n1', null, 100);
    await f.channels.join({ sessionId: 'p1', clientId: 'pete' }, 'occ:2400', 'n1', null, 100);
    const asked = [...Array.from({ length: 2_500 }, (_, i) => `occ:${i}`), 'occ:7'];
    const occupancies = await f.channels.occupancies(asked);
    expect(occupancies).toHaveLength(asked.length);
    const busy = occupancies.flatMap((o, i) => (o.sessions > 0 ? [`${asked[i]} ${o.clients}/${o.sessions}`] : []));
    expect(busy).toEqual(['occ:7 1/2', 'occ:2400 1/1', 'occ:7 1/2']);
  });

  it('rejects bad channel names and cursors with typed errors', async () => {
    const f = fixture();
    for (const bad of ['', 'a b', 'x{y}', 'a,b', 'a=b', 'é', 'x'.repeat(201)]) {
      await expect(f.channels.occupancy(bad)).rejects.toBeInstanceOf(StoreInputError);
    }
    await expect(f.channels.members('ok', '!!', 10, false)).rejects.toMatchObject({ code: 'bad_cursor' });
    expect(await f.channels.occupancy('x'.repeat(200))).toEqual({ clients: 0, sessions: 0 });
  });
});

describe('session ends through the outbox', () => {
  it('leaves every channel of an ended session exactly once, however often the outbox is replayed', async () => {
    const f = fixture();
    await f.store.write(add('s1', 'frank'));
    const frank = { sessionId: 's1', clientId: 'frank' };
    for (const channel of ['r1', 'r2', 'r3']) await f.channels.join(frank, channel, 'n1', null, 100);
    await f.store.write({ kind: 'remove', sessionId: 's1', clientId: 'frank', reason: 'timeout' });
    expect(await f.channels.outboxLength()).toBe(1);
    // The processor crashed after applying the leaves but before deleting the entry: replayed.
    const shard = f.store.keys.shardOf('frank');
    const entries = await redis.xrange(f.store.keys.shard(shard).outbox, '-', '+');
    await drainAll(f);
    await redis.xadd(f.store.keys.shard(shard).outbox, '*', ...(entries[0]?.[1] ?? []));
    await drainAll(f);
    expect(await f.channels.outboxLength()).toBe(0);
    for (const channel of ['r1', 'r2', 'r3']) {
      expect(brief(await events(f.channels, channel))).toEqual(['join frank', 'leave frank timeout']);
      expect(await f.channels.occupancy(channel)).toEqual({ clients: 0, sessions: 0 });
    }
  });

  it('leaves a channel for the ends of every shard in batched calls: occupancy counts down event by event, versions go up by one', async () => {
    const f = fixture();
    // 30 clients over every shard, 2 of them with a second session that stays; a bystander stays too.
    const clients = Array.from({ length: 30 }, (_, i) => `batch-${i}`);
    await f.store.execute(clients.map((clientId, i) => add(`e${i}`, clientId, i % 2 === 0 ? 'edge-a' : 'edge-b')));
    await f.store.execute([add('k0', 'batch-0', 'edge-c'), add('k1', 'batch-1', 'edge-c'), add('b0', 'bystander', 'edge-c')]);
    expect(new Set(clients.map((id) => f.store.keys.shardOf(id))).size).toBe(f.store.keys.shardCount);
    for (const [i, clientId] of clients.entries()) await f.channels.join({ sessionId: `e${i}`, clientId }, 'hall', 'x', null, 100);
    for (const [sessionId, clientId] of [
      ['k0', 'batch-0'],
      ['k1', 'batch-1'],
      ['b0', 'bystander'],
    ] as const) {
      await f.channels.join({ sessionId, clientId }, 'hall', 'edge-c', null, 100);
    }
    const before = await f.channels.latestEventId('hall');
    await f.store.execute(clients.map((clientId, i) => ({ kind: 'remove', sessionId: `e${i}`, clientId, reason: 'closed' }) as const));
    const shards = f.store.keys.allShards().map(({ shard }) => ({ shard, after: '-' }));
    const drained = await f.channels.drainOutboxes(shards, 100);
    expect(drained).toMatchObject({ leaves: 30, events: 28 });
    expect(drained.shards.reduce((sum, part) => sum + part.entries, 0)).toBe(30);
    expect(await f.channels.outboxLength()).toBe(0);

    const left = (await f.channels.readEvents('hall', before, 100)).map((streamed) => streamed.event);
    expect(left.map((e) => `${e.type} ${e.reason}`)).toEqual(Array.from({ length: 28 }, () => 'leave closed'));
    expect(left.map((e) => e.clientId).sort()).toEqual(clients.slice(2).sort());
    // Each event says the occupancy right after it, and the versions have no gap and no repeat.
    expect(left.map((e) => e.occupancy.clients)).toEqual(Array.from({ length: 28 }, (_, i) => 30 - i));
    expect(left.at(-1)?.occupancy).toEqual({ clients: 3, sessions: 3 });
    const versions = left.map((e) => e.version);
    expect(versions).toEqual(versions.map((_, i) => (versions[0] as number) + i));
    // The node comes from the outbox entry: the session's own.
    for (const e of left) expect(e.node).toBe(Number(e.clientId.slice(6)) % 2 === 0 ? 'edge-a' : 'edge-b');
    expect(await f.channels.occupancy('hall')).toEqual({ clients: 3, sessions: 3 });
    // A JOIN after the version jump goes on from there.
    await f.store.write(add('late', 'latecomer'));
    await f.channels.join({ sessionId: 'late', clientId: 'latecomer' }, 'hall', 'n1', null, 100);
    expect((await events(f.channels, 'hall')).at(-1)).toMatchObject({ type: 'join', version: (versions.at(-1) as number) + 1 });
  });

  it('refuses a JOIN that reaches Redis after the session end was applied (no ghost)', async () => {
    const f = fixture();
    await f.store.write(add('s1', 'gina'));
    const gina = { sessionId: 's1', clientId: 'gina' };
    await f.channels.join(gina, 'r1', 'n1', null, 100);
    // A JOIN of r2 whose shard half ran before the end and whose channel half is late.
    const client = f.store.keys.client('gina');
    const record = JSON.parse((await redis.hget(client, 's1')) ?? '{}') as { channels: string[] };
    await redis.hset(client, 's1', JSON.stringify({ ...record, channels: [...record.channels, 'r2'] }));
    await f.store.write({ kind: 'remove', sessionId: 's1', clientId: 'gina', reason: 'leave' });
    await drainAll(f);
    expect((await f.channels.joinChannel(gina, 'r2', 'n1', null)).status).toBe('gone');
    expect(await f.channels.occupancy('r2')).toEqual({ clients: 0, sessions: 0 });
    expect(await f.channels.occupancy('r1')).toEqual({ clients: 0, sessions: 0 });
    expect(brief(await events(f.channels, 'r2'))).toEqual([]);

    // Its edge registers it again (Redis had lost it while the node was cut off): a rejoin is let in,
    // listed in the new record first, so its next end leaves the channel again.
    await f.store.write(add('s1', 'gina'));
    expect((await f.channels.join(gina, 'r1', 'n1', null, 100)).status).toBe('gone');
    expect((await f.channels.join(gina, 'r1', 'n1', null, 100, { rejoin: true })).status).toBe('joined');
    await f.store.write({ kind: 'remove', sessionId: 's1', clientId: 'gina', reason: 'closed' });
    await drainAll(f);
    expect(brief(await events(f.channels, 'r1'))).toEqual(['join gina', 'leave gina leave', 'join gina', 'leave gina closed']);
    expect(await f.channels.occupancy('r1')).toEqual({ clients: 0, sessions: 0 });
  });

  it('sweeps an expired session (dead edge) and leaves its channels with reason expired', async () => {
    const f = fixture();
    await f.store.write({ ...add('s1', 'hank'), ttlMs: 50 });
    await f.store.write(add('s2', 'ivy'));
    await f.channels.join({ sessionId: 's1', clientId: 'hank' }, 'room', 'n1', null, 100);
    await f.channels.join({ sessionId: 's2', clientId: 'ivy' }, 'room', 'n1', null, 100);
    await waitFor(async () => (await f.store.sweepShard(f.store.keys.shardOf('hank'), 100)).removed === 1, { what: 'the sweep' });
    await drainAll(f);
    expect(brief(await events(f.channels, 'room'))).toEqual(['join hank', 'join ivy', 'leave hank expired']);
    expect(await f.channels.occupancy('room')).toEqual({ clients: 1, sessions: 1 });
  });

  it('applies the grace: a reconnect that rejoins in time makes no leave/join pair; one that does not, a late leave', async () => {
    const f = fixture();
    await f.store.write(add('old', 'jane'));
    await f.channels.join({ sessionId: 'old', clientId: 'jane' }, 'kept', 'n1', null, 100);
    await f.channels.join({ sessionId: 'old', clientId: 'jane' }, 'dropped', 'n1', null, 100);
    await f.store.write({ kind: 'remove', sessionId: 'old', clientId: 'jane', reason: 'closed', graceMs: 400, node: 'n1' });
    await drainAll(f);
    expect(brief(await events(f.channels, 'kept'))).toEqual(['join jane']);
    // Back within the grace on another node; rejoins only `kept`.
    await f.store.write(add('new', 'jane', 'n2'));
    await f.channels.join({ sessionId: 'new', clientId: 'jane' }, 'kept', 'n2', null, 100);
    await drainAll(f);
    expect(await f.channels.outboxLength()).toBe(1);
    await waitFor(
      async () => {
        await drainAll(f);
        return (await f.channels.outboxLength()) === 0;
      },
      { what: 'the grace to end', timeoutMs: 5_000 },
    );
    expect(brief(await events(f.channels, 'kept'))).toEqual(['join jane']);
    expect(await f.channels.occupancy('kept')).toEqual({ clients: 1, sessions: 1 });
    expect(brief(await events(f.channels, 'dropped'))).toEqual(['join jane', 'leave jane closed']);
  });
});

describe('members', () => {
  it('pages without skipping or repeating members that stay while others join and leave', async () => {
    const f = fixture();
    const ids = Array.from({ length: 60 }, (_, i) => `u${String(i).padStart(3, '0')}`);
    for (const id of ids) {
      await f.store.write(add(`s-${id}`, id));
      await f.channels.join({ sessionId: `s-${id}`, clientId: id }, 'big', 'n1', null, 100);
    }
    const stayers = new Set(ids.filter((_, i) => i % 3 !== 0));
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const page = await f.channels.members('big', cursor, 7, false);
      seen.push(...page.members.map((m) => m.clientId));
      cursor = page.nextCursor;
      // Churn between pages: one of the leavers goes, a newcomer arrives.
      const leaver = ids[round * 3];
      if (leaver !== undefined) await f.channels.leave({ sessionId: `s-${leaver}`, clientId: leaver }, 'big');
      await f.store.write(add(`s-new${round}`, `new${round}`));
      await f.channels.join({ sessionId: `s-new${round}`, clientId: `new${round}` }, 'big', 'n1', null, 100);
      round += 1;
    } while (cursor !== null);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of stayers) expect(seen).toContain(id);
  });
});

describe('listing channels', () => {
  it('lists the channels that have members now, by prefix, over pages (every primary of a cluster)', async () => {
    const f = fixture();
    const names = ['lobby', 'room:1', 'room:2', 'room:3', 'room:30', 'other/room:1'];
    for (const [i, name] of names.entries()) {
      await f.store.write(add(`s${i}`, `user${i}`));
      await f.channels.join({ sessionId: `s${i}`, clientId: `user${i}` }, name, 'n1', null, 100);
    }
    await f.channels.leave({ sessionId: 's3', clientId: 'user3' }, 'room:3');
    const walk = async (prefix: string, limit: number) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await f.channels.listChannels(prefix, cursor, limit);
        seen.push(...page.channels);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return [...new Set(seen)].sort();
    };
    expect(await walk('room:', 100)).toEqual(['room:1', 'room:2', 'room:30']);
    expect(await walk('room:', 1)).toEqual(['room:1', 'room:2', 'room:30']);
    expect(await walk('', 2)).toEqual(['lobby', 'other/room:1', 'room:1', 'room:2', 'room:30']);
    expect(await walk('nothing', 10)).toEqual([]);
    await expect(f.channels.listChannels('a b', null, 10)).rejects.toMatchObject({ code: 'bad_channel' });
    await expect(f.channels.listChannels('', '99.0', 10)).rejects.toMatchObject({ code: 'bad_cursor' });
  });
});
