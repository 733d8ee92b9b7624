import { KeySpace, WEBHOOK_CONSUMER_GROUP, webhookLaneKeys } from '@presence/wire-format';
import { MAX_EVENT_IDS_BYTES, WebhookStore, type OutgoingEvent, type WebhookEndpoint } from '@presence/webhooks';
import type { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { connectTestRedis, testPrefix } from '../support/test-store.js';

// The webhook store's scripts against a real Redis (a three-master cluster under test:cluster):
// what each writes, and what it refuses to write.

const SHARDS = 4;
let redis: Redis;
let store: WebhookStore;
let keys: KeySpace;

beforeEach(() => {
  redis ??= connectTestRedis();
  keys = new KeySpace(testPrefix(), SHARDS);
  store = new WebhookStore(redis, { keys });
});

afterAll(async () => {
  await redis?.quit();
});

const outgoing = (n: number, at = 1_000 + n): OutgoingEvent => ({
  id: `0-${at}-${n}`,
  at,
  json: JSON.stringify({ id: `0-${at}-${n}`, at }),
});
const endpoint = (id: string, channels: string[] = []): WebhookEndpoint => ({
  id,
  url: 'https://example.com/hook',
  secret: 'whsec_0123456789abcdef',
  events: channels.length > 0 ? ['join', 'leave'] : ['online', 'offline'],
  filter: { clientIdPrefixes: [], channels },
  source: 'api' as const,
  description: null,
  createdAt: 0,
});
/** An endpoint record as the store has it (its lanes follow from it), for one not registered. */
const lanesOf = (id: string) => endpoint(id);
const shard = (n: number) => keys.webhookSources()[n]!;
const laneLength = (id: string, source: number) => redis.xlen(webhookLaneKeys(shard(source), id).queue);

describe('fan-out', () => {
  it('queues events for the endpoints that want them and moves the cursor, together', async () => {
    const events = [outgoing(1), outgoing(2), outgoing(3)];
    const result = await store.fanOut(
      shard(1),
      '0-0',
      '5-0',
      '0',
      events,
      new Map([
        ['a', [0, 1, 2]],
        ['b', [1]],
      ]),
    );
    expect(result).toEqual({ kind: 'done', activated: ['a', 'b'] });
    expect(await store.cursor(shard(1))).toBe('5-0');
    expect([await laneLength('a', 1), await laneLength('b', 1), await laneLength('a', 0)]).toEqual([3, 1, 0]);
    const batch = await store.readBatch(lanesOf('a'), 10);
    expect(batch.events.map((e) => [e.id, e.at, e.json])).toEqual(events.map((e) => [e.id, e.at, e.json]));
    // The fan-out's position, mirrored on the source stream for the consumer-group metrics.
    const groups = (await redis.xinfo('GROUPS', keys.webhookSources()[1]!.events)) as unknown[][];
    const mirror = groups.map((g) =>
      Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]] as [string, unknown])),
    );
    expect(mirror).toMatchObject([{ name: WEBHOOK_CONSUMER_GROUP, 'last-delivered-id': '5-0' }]);

    // A lane that already holds events is not reported again: its delivery job exists.
    expect(await store.fanOut(shard(1), '5-0', '6-0', '0', [outgoing(4)], new Map([['a', [0]]]))).toEqual({ kind: 'done', activated: [] });
  });

  it('writes nothing for a caller whose cursor is behind, or whose endpoint list is older than the source', async () => {
    await store.fanOut(shard(0), '0-0', '5-0', '0', [], new Map());
    expect(await store.fanOut(shard(0), '0-0', '7-0', '0', [outgoing(1)], new Map([['a', [0]]]))).toEqual({ kind: 'moved', cursor: '5-0' });
    await store.createEndpoint(endpoint('wh_new'));
    const versions = await store.versions(store.shardSources);
    expect(versions).toEqual(['1', '1', '1', '1']);
    expect(await store.fanOut(shard(0), '5-0', '7-0', '0', [outgoing(1)], new Map([['a', [0]]]))).toEqual({ kind: 'stale' });
    expect([await store.cursor(shard(0)), await laneLength('a', 0)]).toEqual(['5-0', 0]);
    expect(await store.fanOut(shard(0), '5-0', '7-0', versions[0]!, [outgoing(1)], new Map([['a', [0]]]))).toEqual({
      kind: 'done',
      activated: ['a'],
    });
  });
});

describe('endpoints', () => {
  it('are created once, listed, replaced and deleted with their lanes', async () => {
    const created = await store.createEndpoint(endpoint('wh_a'));
    expect(created.createdAt).toBeGreaterThan(1_700_000_000_000);
    await expect(store.createEndpoint(endpoint('wh_a'))).rejects.toMatchObject({ code: 'endpoint_exists' });
    await store.replaceEndpoint({ ...created, url: 'https://example.com/other' });
    expect((await store.getEndpoint('wh_a'))?.url).toBe('https://example.com/other');
    await store.fanOut(shard(2), '0-0', '1-0', (await store.versions([shard(2)]))[0]!, [outgoing(1)], new Map([['wh_a', [0]]]));
    expect(await store.hasQueued(created)).toBe(true);
    expect(await store.deleteEndpoint('wh_a')).toBe(true);
    expect([await store.getEndpoint('wh_a'), await store.hasQueued(created), await store.deleteEndpoint('wh_a')]).toEqual([
      null,
      false,
      false,
    ]);
    expect(await store.versions(store.shardSources)).toEqual(['3', '3', '3', '3']);
  });
});

describe('delivery jobs', () => {
  it('one current job per endpoint: claimed when none is, handed over only by the current one, released by it', async () => {
    const first = await store.claimJob('wh_a', null);
    expect(first).toMatch(/^wh_a-\d+$/);
    expect(await store.claimJob('wh_a', null)).toBeNull();
    expect(await store.claimJob('wh_a', 'wh_a-999999')).toBeNull();
    const second = await store.claimJob('wh_a', first);
    expect(second).not.toBe(first);
    expect(await store.releaseJob('wh_a', first!)).toBe(false);
    expect((await store.jobAndEndpoint('wh_a')).job).toBe(second);
    expect(await store.releaseJob('wh_a', second!)).toBe(true);
    expect(await store.currentJob('wh_a')).toBeNull();
  });

  it('the fan-out lease is held by one worker at a time, and given up at once', async () => {
    expect(await store.holdLease('w1', 5_000)).toBe(true);
    expect(await store.holdLease('w2', 5_000)).toBe(false);
    expect(await store.holdLease('w1', 5_000)).toBe(true);
    await store.releaseLease('w1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.holdLease('w2', 5_000)).toBe(true);
  });
});

describe('batches', () => {
  /** Queues events for endpoint `id` in `source`, with these times, in this order. */
  async function queue(id: string, source: number, ats: number[]): Promise<void> {
    const events = ats.map((at, i) => ({ id: `${source}-${at}-${i}`, at, json: `{"at":${at}}` }));
    const from = await store.cursor(shard(source));
    const to = `${Number(from.split('-')[0]) + 1}-0`;
    await store.fanOut(shard(source), from, to, '0', events, new Map([[id, events.map((_, i) => i)]]));
  }

  it('merge the lanes by time, keeping each lane in its own order, and continue where the last one ended', async () => {
    await queue('e', 0, [10, 40, 20]);
    await queue('e', 1, [15, 30]);
    await queue('e', 3, [5]);
    const first = await store.readBatch(lanesOf('e'), 4);
    // Lane 0 sends 40 before its 20: a lane's order is its stream's, whatever the times.
    expect(first.events.map((e) => e.at)).toEqual([5, 10, 15, 30]);
    const second = await store.readBatch(lanesOf('e'), 4, first.after);
    expect(second.events.map((e) => e.at)).toEqual([40, 20]);
    expect((await store.readBatch(lanesOf('e'), 4, second.after)).events).toEqual([]);
    await store.ack(lanesOf('e'), first.events);
    expect((await store.readBatch(lanesOf('e'), 10)).events.map((e) => e.at)).toEqual([40, 20]);
  });

  it('fill up from the lanes that have events when the others are empty', async () => {
    await queue(
      'e',
      2,
      Array.from({ length: 150 }, (_, i) => i),
    );
    const batch = await store.readBatch(lanesOf('e'), 100);
    expect(batch.events).toHaveLength(100);
    expect(batch.events.map((e) => e.at)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('dead letters', () => {
  const D = endpoint('wh_d');
  it('events queued before the cutoff move to the dead letters; they are listed in pages, replayed and dropped', async () => {
    await store.createEndpoint(D);
    const versions = await store.versions(store.shardSources);
    for (const source of [0, 1, 2]) {
      await store.fanOut(
        shard(source),
        '0-0',
        '1-0',
        versions[source]!,
        [outgoing(source), outgoing(source + 10)],
        new Map([[D.id, [0, 1]]]),
      );
    }
    expect(await store.expire(D, 0, 1, 'HTTP 500', 100)).toBe(0);
    const now = await store.now();
    expect(await store.expire(D, now + 1, 7, 'HTTP 503', 100)).toBe(6);
    expect((await store.laneStats([D])).get(D.id)).toEqual({ queued: 0, dead: 6, oldestQueuedAt: null });

    const first = await store.deadLetters(D, null, 4);
    const second = await store.deadLetters(D, first.nextCursor, 4);
    expect(first.deadLetters).toHaveLength(4);
    expect(second).toMatchObject({ nextCursor: null });
    expect(second.deadLetters).toHaveLength(2);
    const letters = [...first.deadLetters, ...second.deadLetters];
    expect(letters[0]).toMatchObject({ attempts: 7, error: 'HTTP 503', event: { id: expect.any(String), at: expect.any(Number) } });
    expect(new Set(letters.map((l) => (l.event as { id: string }).id)).size).toBe(6);
    await expect(store.deadLetters(D, 'v1.9.x', 4)).rejects.toMatchObject({ code: 'bad_cursor' });

    const subscriber = redis.duplicate();
    const notices: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => notices.push(message));
    await subscriber.subscribe(keys.webhooks.channel);
    expect(await store.replay(D, [letters[0]!.id, 'no-such-id', 's9-1-0'])).toBe(1);
    expect(await store.replay(D, null)).toBe(5);
    // Queued again, each once, and listed no more.
    const queued = await store.readBatch(D, 10);
    expect(queued.events.map((e) => e.id).sort()).toEqual(letters.map((l) => (l.event as { id: string }).id).sort());
    expect((await store.laneStats([D])).get(D.id)).toMatchObject({ queued: 6, dead: 0 });
    expect((await store.deadLetters(D, null, 10)).deadLetters).toEqual([]);
    expect(await store.expire(D, (await store.now()) + 1, 1, 'timeout', 100)).toBe(6);
    expect(await store.dropDeadLetters(D)).toBe(6);
    expect((await store.laneStats([D])).get(D.id)).toMatchObject({ queued: 0, dead: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(notices.map((n) => WebhookStore.parseNotice(n))).toContainEqual({ kind: 'queued', endpoint: D.id });
    await subscriber.quit();
  });
});

describe('channel sources', () => {
  const ROOM = 'room:1';
  const room = () => keys.webhookChannelSource(ROOM);
  const xadd = (n: number) => redis.xadd(keys.channel(ROOM).events, '*', 'type', 'join', 'n', String(n));

  it("start at the channel stream's end when no endpoint names the channel, and stay where they are while one does", async () => {
    for (let n = 0; n < 3; n += 1) await xadd(n);
    const last = (await redis.xrevrange(keys.channel(ROOM).events, '+', '-', 'COUNT', 1))[0]![0];
    const first = await store.createEndpoint(endpoint('wh_c1', [ROOM]));
    expect(await store.cursor(room())).toBe(last);
    expect(store.sourcesOf(first).map((source) => source.source)).toEqual([`c:${ROOM}`]);
    expect(store.sourcesFor([first]).map((source) => source.source)).toEqual([...store.shardSources.map((s) => s.source), `c:${ROOM}`]);

    // The fan-out has not read the newer events yet: a second endpoint on the channel leaves the cursor alone.
    await xadd(3);
    await store.createEndpoint(endpoint('wh_c2', [ROOM]));
    expect(await store.cursor(room())).toBe(last);

    // Deleting both leaves the cursor; an endpoint naming the channel again starts it at the end anew.
    await store.deleteEndpoint('wh_c1');
    await store.deleteEndpoint('wh_c2');
    const newest = String(await xadd(4));
    await store.createEndpoint(endpoint('wh_c3', [ROOM]));
    expect(await store.cursor(room())).toBe(newest);
  });

  it('queue, batch, dead-letter and replay channel events in the channel slot, and name them by channel', async () => {
    const created = await store.createEndpoint(endpoint('wh_ch', [ROOM, 'room:2']));
    const [roomVersion] = await store.versions([room()]);
    const from = await store.cursor(room());
    const events = [
      { id: `${ROOM}=5-0`, at: 5, json: '{"id":"5-0","at":5}' },
      { id: `${ROOM}=6-0`, at: 6, json: '{"id":"6-0","at":6}' },
    ];
    expect(await store.fanOut(room(), from, '9999999999999-0', roomVersion!, events, new Map([['wh_ch', [0, 1]]]))).toEqual({
      kind: 'done',
      activated: ['wh_ch'],
    });
    // Its lanes: room:1's and room:2's, no shard lanes (it takes no online/offline).
    expect(store.lanes(created).map((lane) => lane.queue)).toEqual([
      webhookLaneKeys(room(), 'wh_ch').queue,
      webhookLaneKeys(keys.webhookChannelSource('room:2'), 'wh_ch').queue,
    ]);
    expect((await store.readBatch(created, 10)).events.map((e) => e.id)).toEqual([`${ROOM}=5-0`, `${ROOM}=6-0`]);

    expect(await store.expire(created, (await store.now()) + 1, 3, 'HTTP 500', 100)).toBe(2);
    const letters = (await store.deadLetters(created, null, 10)).deadLetters;
    expect(letters.map((l) => l.id)).toEqual([expect.stringMatching(/^c:room:1-\d+-0$/), expect.stringMatching(/^c:room:1-\d+-1$/)]);
    expect(await store.replay(created, [letters[1]!.id])).toBe(1);
    expect((await store.readBatch(created, 10)).events.map((e) => e.id)).toEqual([`${ROOM}=6-0`]);
    expect((await store.laneStats([created])).get('wh_ch')).toMatchObject({ queued: 1, dead: 1 });
  });

  it('a deletion cut short after the endpoint left the registry is finished by the repair, channel lanes included', async () => {
    const created = await store.createEndpoint(endpoint('wh_cut', [ROOM]));
    const [version] = await store.versions([room()]);
    await store.fanOut(
      room(),
      await store.cursor(room()),
      '9999999999999-0',
      version!,
      [{ id: 'x', at: 1, json: '{}' }],
      new Map([['wh_cut', [0]]]),
    );
    // What retire-2 does, then a crash: the record is in `deleting`, the lanes are still there.
    await redis.hset(keys.webhooks.deleting, 'wh_cut', JSON.stringify(created));
    await redis.hdel(keys.webhooks.endpoints, 'wh_cut');
    expect(await store.hasQueued(created)).toBe(true);
    expect(await store.finishDeletions()).toEqual(['wh_cut']);
    expect([await store.hasQueued(created), await redis.hlen(keys.webhooks.deleting)]).toEqual([false, 0]);
    // The version of its channel was raised: a fan-out with the list from before writes nothing more.
    expect(Number((await store.versions([room()]))[0])).toBeGreaterThan(Number(version));
  });

  it("end a batch before its ids would pass MAX_EVENT_IDS_BYTES (a channel event's id carries its name)", async () => {
    const long = 'x'.repeat(200);
    const created = await store.createEndpoint(endpoint('wh_long', [long]));
    const source = keys.webhookChannelSource(long);
    const events = Array.from({ length: 100 }, (_, i) => ({ id: `${long}=${i + 1}-0`, at: i, json: `{"at":${i}}` }));
    const [version] = await store.versions([source]);
    await store.fanOut(
      source,
      await store.cursor(source),
      '9999999999999-0',
      version!,
      events,
      new Map([['wh_long', events.map((_, i) => i)]]),
    );
    const batch = await store.readBatch(created, 100);
    const header = batch.events.map((e) => e.id).join(',');
    expect(header.length).toBeLessThanOrEqual(MAX_EVENT_IDS_BYTES);
    expect(batch.events.length).toBe(Math.floor((MAX_EVENT_IDS_BYTES + 1) / (events[0]!.id.length + 1)));
    expect((await store.readBatch(created, 100, batch.after)).events[0]?.at).toBe(batch.events.length);
  });
});
