import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  channelEventStreamKey,
  createStreamConsumer,
  type ChannelEvent,
  type ChannelEventHandler,
  type ChannelStreamConsumerOptions,
} from '@presence/client';
import { channelEventRef } from '@presence/wire-format';
import { Stack } from '../support/stack.js';
import { ConsumerPool, pendingCount as pendingIn } from '../support/stream-consumers.js';
import { connectTestRedis, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { channelEventRefs } from '../support/webhooks.js';
import { WireClient } from '../support/wire-client.js';

// The SDK's stream consumer on channel streams (`channels: [...]`) against the streams real edge
// nodes and a real sweeper write: the workers of a group share the join/leave events of the named
// channels, and a worker that dies with events in hand loses none of them.

const ROOMS = ['room:1', 'room:2'];
let stack: Stack;
let redis: Redis;
const pool = new ConsumerPool();

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, api: false, shards: 4 });
  redis = connectTestRedis();
});

afterAll(async () => {
  await pool.stop();
  await redis?.quit();
  await stack?.stop();
});

/** Each client joins `channels` and says BYE: the sweeper leaves them for it (one join and one leave per channel). */
async function joinAndLeave(ids: readonly string[], channels: readonly string[]): Promise<void> {
  const port = (stack.edges[0] as { port: number }).port;
  const clients = await Promise.all(
    ids.map(async (id) => {
      const { client } = await WireClient.session(port, id, 0);
      for (const channel of channels) {
        client.send(`JOIN ${channel}`);
        expect(await client.nextLine()).toMatch(/^JOINED /);
      }
      return client;
    }),
  );
  await Promise.all(clients.map((client) => client.bye()));
}

/** Every event in the channels' streams (`<channel>=<entry id>`), sorted. */
const allRefs = async (channels: readonly string[] = ROOMS) =>
  (await Promise.all(channels.map((channel) => channelEventRefs(stack, channel)))).flat().sort();

const pendingCount = (group: string) =>
  pendingIn(
    redis,
    ROOMS.map((channel) => channelEventStreamKey(stack.prefix, channel)),
    group,
  );

/** One worker with a Redis connection of its own (so that it can die alone). */
function worker(name: string, group: string, handler: ChannelEventHandler, options: Partial<ChannelStreamConsumerOptions> = {}) {
  return pool.add((connection) =>
    createStreamConsumer({
      redis: connection,
      keyPrefix: stack.prefix,
      channels: ROOMS,
      group,
      consumer: name,
      handler,
      claimIntervalMs: 200,
      pollMs: 200,
      ...options,
    }),
  );
}

const ref = (event: ChannelEvent) => channelEventRef(event);

describe('the stream consumer on channels', () => {
  it('reads the channel streams the service writes, and refuses what is not an exact channel name', () => {
    for (const channel of ROOMS) expect(channelEventStreamKey(stack.prefix, channel)).toBe(stack.keys.channel(channel).events);
    const handler = () => {};
    const base = { redis, group: 'g', consumer: 'c', handler };
    expect(() => createStreamConsumer({ ...base, channels: [] })).toThrow(/at least one channel/);
    expect(() => createStreamConsumer({ ...base, channels: ['room:*'] })).toThrow(/exact names only \(got "room:\*"\)/);
    expect(() => createStreamConsumer({ ...base, channels: ['{s0}'] })).toThrow(RangeError);
  });

  it('shares the channels’ events among the workers of a group: each handled once, as ChannelEvents, all acknowledged', async () => {
    const handled = new Map<string, { by: string[]; event: ChannelEvent }>();
    const record = (name: string) => (event: ChannelEvent) =>
      void handled.set(ref(event), { by: [...(handled.get(ref(event))?.by ?? []), name], event });
    const a = worker('a', 'share', record('a'));
    const b = worker('b', 'share', record('b'));
    await Promise.all([a.consumer.start(), b.consumer.start()]);
    // room:3 is not theirs: its events must not reach them.
    await joinAndLeave(
      Array.from({ length: 10 }, (_, i) => `share-${i}`),
      [...ROOMS, 'room:3'],
    );
    const expected = await waitFor(
      async () => {
        const refs = await allRefs();
        return refs.length === 40 ? refs : false;
      },
      { what: '10 joins and 10 leaves in each room’s stream' },
    );
    await waitFor(() => expected.every((id) => handled.has(id)), { what: 'every event handled' });
    await waitFor(async () => (await pendingCount('share')) === 0, { what: 'every event acknowledged' });
    expect([...handled.keys()].sort()).toEqual(expected);
    expect([...handled.values()].every(({ by }) => by.length === 1)).toBe(true);
    const events = [...handled.values()].map(({ event }) => event);
    for (const channel of ROOMS) {
      const mine = events.filter((event) => event.channel === channel);
      expect(mine.filter((event) => event.type === 'join')).toHaveLength(10);
      // The sweeper left the channels of the sessions that said BYE, with their reason.
      expect(mine.filter((event) => event.type === 'leave').map((event) => event.reason)).toEqual(Array(10).fill('leave'));
    }
    expect(events[0]).toMatchObject({ clientId: expect.stringMatching(/^share-/), occupancy: { clients: expect.any(Number) } });
    expect(events.every((event) => typeof event.version === 'number' && event.version > 0)).toBe(true);
  });

  it("hands a crashed worker's pending channel events to another worker after the claim idle time", async () => {
    const claimIdleMs = 500;
    await joinAndLeave(['takeover-1', 'takeover-2'], ROOMS);
    const all = await waitFor(
      async () => {
        const refs = await allRefs();
        return refs.length === 48 ? refs : false;
      },
      { what: 'the events of both tests in the streams' },
    );

    // The doomed worker reads a batch from every channel, takes the first event and never finishes
    // it, as if its process hung or died: every event it read stays pending, owned by it.
    const taken: ChannelEvent[] = [];
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

    const rescued: { event: ChannelEvent; redelivered: boolean }[] = [];
    const claims: { channel: string; count: number }[] = [];
    const rescuer = worker('rescuer', 'takeover', (event, context) => void rescued.push({ event, redelivered: context.redelivered }), {
      claimIdleMs,
    });
    rescuer.consumer.on('claimed', (info) => claims.push(info));
    const startedAt = performance.now();
    await rescuer.consumer.start();
    await waitFor(async () => (await pendingCount('takeover')) === 0, { what: 'every pending event taken over and acknowledged' });
    const tookMs = performance.now() - startedAt;
    console.info(
      `[figure] a crashed worker's ${all.length} pending channel events taken over and handled ${tookMs.toFixed(0)} ms after the rescuer started (claimIdleMs ${claimIdleMs})`,
    );

    expect(rescued.map(({ event }) => ref(event)).sort()).toEqual(all);
    expect(rescued.every((r) => r.redelivered)).toBe(true);
    expect(claims.reduce((sum, c) => sum + c.count, 0)).toBe(all.length);
    expect(new Set(claims.map((c) => c.channel))).toEqual(new Set(ROOMS));
    expect(all).toContain(ref(taken[0] as ChannelEvent));
    // One worker takes each channel's events in its stream's order.
    for (const channel of ROOMS) {
      const order = rescued.filter(({ event }) => event.channel === channel).map(({ event }) => ref(event));
      expect(order).toEqual(await channelEventRefs(stack, channel));
    }
  });
});
