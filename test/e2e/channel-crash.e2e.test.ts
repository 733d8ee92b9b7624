import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { ChannelStore, KeySpace, type ChannelEvent } from '@presence/presence-store';
import { scaled } from '../support/figures.js';
import { FAST_TIMING, Stack } from '../support/stack.js';
import { connectTestRedis, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

/**
 * Channel membership when processes die, counted in Redis: every (client, channel) the dead node
 * held gets exactly one `leave`, no member is left behind, and a channel processor killed in the
 * middle of its work leaves nothing undone and nothing twice.
 */

let stack: Stack;
let redis: Redis;
let channels: ChannelStore;
const sessionTtlMs = Number(FAST_TIMING.SESSION_TTL_MS);

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 2, sweepers: 1, api: false });
  redis = connectTestRedis();
  channels = new ChannelStore(redis, { keys: new KeySpace(stack.prefix, 4) });
});

afterAll(async () => {
  redis?.disconnect();
  await stack?.stop();
});

const port = (i: number) => (stack.edges[i] as { port: number }).port;

async function channelEvents(channel: string): Promise<ChannelEvent[]> {
  return (await channels.readEvents(channel, '0-0', 100_000)).map((streamed) => streamed.event);
}

/** Connects `count` clients to edge `edge`, each joining every channel, and waits for every JOINED. */
async function joinAll(edge: number, prefix: string, count: number, names: readonly string[]): Promise<WireClient[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const { client } = await WireClient.session(port(edge), `${prefix}${i}`);
      for (const name of names) client.send(`JOIN ${name}`);
      for (let j = 0; j < names.length; j += 1) expect(await client.nextLine()).toMatch(/^(JOINED|PONG)/);
      return client;
    }),
  );
}

async function leavesOf(names: readonly string[], clientPrefix: string): Promise<ChannelEvent[]> {
  const all = await Promise.all(names.map(channelEvents));
  return all.flat().filter((e) => e.type === 'leave' && e.clientId.startsWith(clientPrefix));
}

describe('channel members of a dead edge', () => {
  it('SIGKILL: every (client, channel) of the node leaves once, as expired, within TTL + 2 s; the others stay', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `crash:room:${i}`);
    const DOOMED = scaled(100, 20);
    await joinAll(0, 'doomed-', DOOMED, names);
    const survivors = await joinAll(1, 'stays-', 10, names);
    await waitFor(async () => (await channels.occupancy(names[0] as string)).clients === DOOMED + 10, { what: 'all members in Redis' });

    const killedAt = Date.now();
    await stack.edges[0]?.stop('SIGKILL');
    await waitFor(async () => (await channels.occupancies(names)).every((o) => o.clients === 10 && o.sessions === 10), {
      timeoutMs: 15_000,
      what: 'the dead node’s members to leave',
    });
    const leftBy = Date.now() - killedAt;
    expect(leftBy).toBeLessThanOrEqual(sessionTtlMs + 2_000 + 1_000);

    const leaves = await leavesOf(names, 'doomed-');
    expect(leaves).toHaveLength(DOOMED * names.length);
    expect(new Set(leaves.map((e) => `${e.channel} ${e.clientId}`)).size).toBe(DOOMED * names.length);
    expect(leaves.every((e) => e.reason === 'expired' && e.node === 'edge-0')).toBe(true);
    expect(await leavesOf(names, 'stays-')).toEqual([]);
    expect(await channels.outboxLength()).toBe(0);
    for (const client of survivors) client.send('BYE');
    await waitFor(async () => (await channels.occupancy(names[0] as string)).clients === 0 && (await channels.outboxLength()) === 0, {
      what: 'the survivors to leave',
    });
  });
});

describe('the channel processor dies mid-cleanup', () => {
  it('SIGKILL of the sweeper with half the leaves applied: its successor finishes them, no ghost, no duplicate', async () => {
    // No processor while the sessions end: their outbox entries pile up.
    await stack.sweepers[0]?.stop('SIGKILL');
    const names = Array.from({ length: 20 }, (_, i) => `mid:room:${i}`);
    const COUNT = scaled(150, 40);
    const clients = await joinAll(1, 'mid-', COUNT, names);
    for (const client of clients) client.send('BYE');
    await waitFor(async () => (await channels.outboxLength()) === COUNT, { timeoutMs: 10_000, what: 'one outbox entry per ended session' });
    expect((await channels.occupancy(names[0] as string)).clients).toBe(COUNT);

    // One entry per call, so that the kill lands between entries and between the leaves of one.
    const first = await stack.addSweeper({ CHANNEL_OUTBOX_BATCH: '1', CHANNEL_OUTBOX_INTERVAL_MS: '10' });
    await waitFor(async () => (await leavesOf(names, 'mid-')).length > 0, { intervalMs: 2, timeoutMs: 10_000, what: 'the first leaves' });
    await first.stop('SIGKILL');
    const applied = (await leavesOf(names, 'mid-')).length;
    const waiting = await channels.outboxLength();
    expect(applied).toBeLessThan(COUNT * names.length);
    expect(waiting).toBeGreaterThan(0);

    await stack.addSweeper();
    await waitFor(async () => (await channels.outboxLength()) === 0, { timeoutMs: 20_000, what: 'the outbox to drain' });
    const leaves = await leavesOf(names, 'mid-');
    expect(leaves).toHaveLength(COUNT * names.length);
    expect(new Set(leaves.map((e) => `${e.channel} ${e.clientId}`)).size).toBe(COUNT * names.length);
    expect(leaves.every((e) => e.reason === 'leave')).toBe(true);
    expect((await channels.occupancies(names)).every((o) => o.clients === 0 && o.sessions === 0)).toBe(true);
  });
});
