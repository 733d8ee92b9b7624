import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelEvent } from '@presence/client';
import {
  bulkOccupancySchema,
  channelListSchema,
  channelEventSchema,
  channelOccupancySchema,
  clientChannelsSchema,
  membersPageSchema,
} from '../../services/api/src/routes/channels-router.js';
import { SseClient } from '../support/sse-client.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

/** Channels end to end: wire frames on two edges, the HTTP answers, and the SSE channel stream. */

let stack: Stack;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 2, sweepers: 1 });
});

afterAll(async () => {
  await stack?.stop();
});

const port = (i: number) => (stack.edges[i] as { port: number }).port;
const get = async (path: string) => {
  const res = await fetch(`${stack.apiUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const post = async (path: string, body: unknown) => {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const channelEvents = (sse: SseClient): ChannelEvent[] =>
  sse.messages.filter((m) => ['join', 'leave', 'update'].includes(m.event ?? '')).map((m) => channelEventSchema.parse(JSON.parse(m.data)));
const brief = (events: ChannelEvent[]) => events.map((e) => `${e.type} ${e.clientId}${e.reason === null ? '' : ` ${e.reason}`}`);

async function joined(edge: number, clientId: string, frame: string): Promise<WireClient> {
  const { client } = await WireClient.session(port(edge), clientId);
  client.send(frame);
  expect(await client.nextLine()).toMatch(/^JOINED /);
  return client;
}

describe('a room across two edges', () => {
  it('occupancy, members with sessions and state, bulk occupancy, where_now, and the SSE stream of joins and leaves', async () => {
    const sse = await SseClient.open(`${stack.apiUrl}/v1/events?channels=room:1,room:2&types=join,leave`);
    await waitFor(() => sse.lastEventId !== null, { what: 'the stream to open' });

    const alice1 = await joined(0, 'alice', 'JOIN room:1 {"device":"phone"}');
    const alice2 = await joined(1, 'alice', 'JOIN room:1 {"device":"laptop"}');
    const bob = await joined(1, 'bob', 'JOIN room:1');
    bob.send('SET room:1 {"typing":true}');
    expect(await bob.nextLine()).toBe('UPDATED room:1 2 3');

    expect(await get('/v1/channels/room:1')).toEqual({ status: 200, body: { channel: 'room:1', clients: 2, sessions: 3 } });
    channelOccupancySchema.parse((await get('/v1/channels/room:1')).body);
    const members = await get('/v1/channels/room:1/members?state=1');
    expect(members.status).toBe(200);
    membersPageSchema.parse(members.body);
    expect(members.body).toMatchObject({ channel: 'room:1', clients: 2, sessions: 3, nextCursor: null });
    const list = members.body['members'] as { clientId: string; sessions: { node: string; state: unknown; joinedAt: number }[] }[];
    expect(list.map((m) => m.clientId)).toEqual(['alice', 'bob']);
    expect(list[0]?.sessions.map((s) => [s.node, s.state])).toEqual([
      ['edge-0', { device: 'phone' }],
      ['edge-1', { device: 'laptop' }],
    ]);
    expect(list[1]?.sessions.map((s) => s.state)).toEqual([{ typing: true }]);
    const paged = await get('/v1/channels/room:1/members?limit=1');
    expect((paged.body['members'] as { clientId: string }[]).map((m) => m.clientId)).toEqual(['alice']);
    const next = await get(`/v1/channels/room:1/members?limit=1&cursor=${String(paged.body['nextCursor'])}`);
    membersPageSchema.parse(next.body);
    expect(next.body).toMatchObject({ members: [{ clientId: 'bob', sessions: [{ node: 'edge-1' }] }], nextCursor: null });
    expect((next.body['members'] as { sessions: object[] }[])[0]?.sessions[0]).not.toHaveProperty('state');

    expect(await post('/v1/channels/occupancy', { channels: ['room:1', 'nobody-here', 'room:1'] })).toEqual({
      status: 200,
      body: {
        channels: [
          { channel: 'room:1', clients: 2, sessions: 3 },
          { channel: 'nobody-here', clients: 0, sessions: 0 },
          { channel: 'room:1', clients: 2, sessions: 3 },
        ],
      },
    });
    bulkOccupancySchema.parse((await post('/v1/channels/occupancy', { channels: ['room:1'] })).body);
    expect(await get('/v1/presence/alice/channels')).toEqual({ status: 200, body: { clientId: 'alice', channels: ['room:1'] } });
    clientChannelsSchema.parse((await get('/v1/presence/alice/channels')).body);
    const listed = await get('/v1/channels?prefix=room:&limit=1000');
    expect(channelListSchema.parse(listed.body).channels).toContain('room:1');

    // One device of alice goes: she is still in the room. Bob's socket dies: he leaves as closed.
    alice1.send('BYE');
    bob.socket.destroy();
    // Bound: the outbox doorbell makes the processor apply the leave at once, well before its 5 s poll.
    await waitFor(() => brief(channelEvents(sse)).includes('leave bob closed'), { timeoutMs: 2_500, what: "bob's leave" });
    // Alice's first device leaves without an event (her second stays): it shows in the occupancy.
    await waitFor(async () => (await get('/v1/channels/room:1')).body['sessions'] === 1, {
      timeoutMs: 2_500,
      what: "alice's first device out",
    });
    alice2.send('LEAVE room:1');
    expect(await alice2.nextLine()).toBe('LEFT room:1 0 0');
    await waitFor(() => channelEvents(sse).length === 4, { what: "alice's leave" });
    const events = channelEvents(sse);
    expect(brief(events)).toEqual(['join alice', 'join bob', 'leave bob closed', 'leave alice left']);
    expect(events.map((e) => e.occupancy.clients)).toEqual([1, 2, 1, 0]);
    expect(events[2]).toMatchObject({ channel: 'room:1', node: 'edge-1' });
    expect(await get('/v1/channels/room:1')).toMatchObject({ body: { clients: 0, sessions: 0 } });

    // Resuming from the id before bob's leave gets the rest once, and nothing before it.
    const resumeAt = sse.messages.find((m) => m.event === 'join' && m.data.includes('"bob"'))?.id as string;
    const resumed = await SseClient.open(`${stack.apiUrl}/v1/events?channels=room:1,room:2&types=join,leave`, resumeAt);
    await waitFor(() => channelEvents(resumed).length === 2, { what: 'the resumed events' });
    expect(channelEvents(resumed)).toEqual(events.slice(2));
    // Sentinel: a later join arrives after them, with nothing in between.
    await joined(0, 'carol', 'JOIN room:2');
    await waitFor(() => channelEvents(resumed).length === 3, { what: "carol's join" });
    expect(brief(channelEvents(resumed))).toEqual(['leave bob closed', 'leave alice left', 'join carol']);
    // The API counts the channel event streams beside the client event stream's.
    const channelSubscribers = async () =>
      Number(/^presence_sse_subscribers\{stream="channels"\S* (\d+)$/m.exec(await (await fetch(`${stack.apiUrl}/metrics`)).text())?.[1]);
    expect(await channelSubscribers()).toBe(2);
    sse.close();
    resumed.close();
    await waitFor(async () => (await channelSubscribers()) === 0, { what: 'both channel streams let go' });
  });

  it('answers every bad channel input with a 400 and a code', async () => {
    const cases: [string, Promise<{ status: number; body: Record<string, unknown> }>, string][] = [
      ['space', get('/v1/channels/a%20b'), 'bad_channel'],
      ['brace', get('/v1/channels/a%7Bb%7D/members'), 'bad_channel'],
      ['too long', get(`/v1/channels/${'x'.repeat(201)}`), 'bad_channel'],
      ['limit', get('/v1/channels/ok/members?limit=0'), 'bad_request'],
      ['cursor', get('/v1/channels/ok/members?cursor=!!'), 'bad_cursor'],
      ['state', get('/v1/channels/ok/members?state=yes'), 'bad_request'],
      ['bulk none', post('/v1/channels/occupancy', { channels: [] }), 'bad_request'],
      ['bulk many', post('/v1/channels/occupancy', { channels: Array.from({ length: 1001 }, (_, i) => `c${i}`) }), 'bad_request'],
      ['bulk bad', post('/v1/channels/occupancy', { channels: ['ok', 'a b'] }), 'bad_request'],
      ['bulk shape', post('/v1/channels/occupancy', ['ok']), 'bad_request'],
      ['client', get('/v1/presence/a%20b/channels'), 'bad_client_id'],
      ['list prefix', get('/v1/channels?prefix=a%20b'), 'bad_request'],
      ['list cursor', get('/v1/channels?cursor=x'), 'bad_cursor'],
      ['stream channel', get('/v1/events?channels=a%7Bb'), 'bad_request'],
      ['stream types', get('/v1/events?channels=ok&types=online'), 'bad_request'],
      ['stream many', get(`/v1/events?channels=${Array.from({ length: 51 }, (_, i) => `c${i}`).join(',')}`), 'bad_request'],
    ];
    for (const [name, request, code] of cases) {
      const { status, body } = await request;
      expect([name, status, (body['error'] as { code: string }).code]).toEqual([name, 400, code]);
    }
    const res = await fetch(`${stack.apiUrl}/v1/events?channels=ok`, { headers: { 'last-event-id': 'nonsense' } });
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([400, 'bad_cursor']);
  });

  it('bad channel frames get a NACK and the session carries on', async () => {
    const { client } = await WireClient.session(port(0), 'dave');
    client.send('JOIN bad{name}');
    expect(await client.nextLine()).toMatch(/^NACK bad\{name\} bad_channel /);
    client.send('JOIN room:9 not-json');
    expect(await client.nextLine()).toMatch(/^NACK room:9 bad_state /);
    client.send('LEAVE room:9');
    expect(await client.nextLine()).toMatch(/^NACK room:9 not_joined /);
    client.send('JOIN room:9');
    expect(await client.nextLine()).toBe('JOINED room:9 1 1');
    client.send('BYE');
  });
});

describe('every way a session ends leaves its channels, with its reason', () => {
  it('timeout (silent client) and shutdown (its edge drained with SIGTERM)', async () => {
    const sse = await SseClient.open(`${stack.apiUrl}/v1/events?channels=end:timeout,end:shutdown&types=leave`);
    await waitFor(() => sse.lastEventId !== null, { what: 'the stream to open' });
    // No heartbeat: the edge closes it after HEARTBEAT_TIMEOUT_MS.
    const { client: silent } = await WireClient.session(port(0), 'silent', 0);
    silent.send('JOIN end:timeout');
    expect(await silent.nextLine()).toBe('JOINED end:timeout 1 1');
    const drained = await stack.addEdge();
    const { client: drainedClient } = await WireClient.session(drained.port, 'drained');
    drainedClient.send('JOIN end:shutdown');
    expect(await drainedClient.nextLine()).toBe('JOINED end:shutdown 1 1');
    await drained.stop('SIGTERM');
    await waitFor(() => channelEvents(sse).length === 2, { timeoutMs: 10_000, what: 'both leaves' });
    expect(
      channelEvents(sse)
        .map((e) => `${e.channel} ${e.clientId} ${e.reason}`)
        .sort(),
    ).toEqual(['end:shutdown drained shutdown', 'end:timeout silent timeout']);
    sse.close();
  });
});

describe('the offline grace applies to channels', () => {
  let graceStack: Stack;
  beforeAll(async () => {
    graceStack = await Stack.start({ redisUrl: testRedisUrl(), edges: 2, sweepers: 1, env: { OFFLINE_GRACE_MS: '1500' } });
  });
  afterAll(async () => {
    await graceStack?.stop();
  });

  it('a reconnect that rejoins within the grace makes no leave/join pair; one that does not rejoin leaves after it', async () => {
    const edge = (i: number) => (graceStack.edges[i] as { port: number }).port;
    const sse = await SseClient.open(`${graceStack.apiUrl}/v1/events?channels=g:kept,g:dropped,g:sentinel`);
    await waitFor(() => sse.lastEventId !== null, { what: 'the stream to open' });
    const first = (await WireClient.session(edge(0), 'erin')).client;
    first.send('JOIN g:kept');
    first.send('JOIN g:dropped');
    expect([await first.nextLine(), await first.nextLine()]).toEqual(['JOINED g:kept 1 1', 'JOINED g:dropped 1 1']);
    first.socket.destroy();
    // Back on the other node within the grace, rejoining only one room.
    const again = (await WireClient.session(edge(1), 'erin')).client;
    again.send('JOIN g:kept');
    expect(await again.nextLine()).toMatch(/^JOINED g:kept 1 /);
    await waitFor(() => brief(channelEvents(sse)).includes('leave erin closed'), {
      timeoutMs: 8_000,
      what: 'the leave of the room not rejoined',
    });
    // Sentinel: an event after the grace is over, so anything erin caused in g:kept would be in by now.
    const frank = (await WireClient.session(edge(0), 'frank')).client;
    frank.send('JOIN g:sentinel');
    await waitFor(() => brief(channelEvents(sse)).includes('join frank'), { what: 'the sentinel' });
    const events = channelEvents(sse);
    expect(events.map((e) => `${e.channel} ${e.type} ${e.clientId}`)).toEqual([
      'g:kept join erin',
      'g:dropped join erin',
      'g:dropped leave erin',
      'g:sentinel join frank',
    ]);
    sse.close();
  });
});
