import { webhookLaneKeys, type ChannelEvent } from '@presence/wire-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelEventSchema } from '../../services/api/src/routes/channels-router.js';
import { webhookCreatedSchema } from '../../services/api/src/routes/webhooks-router.js';
import { recordFigure } from '../support/figures.js';
import { SseClient } from '../support/sse-client.js';
import { Stack, type WebhooksProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { WEBHOOK_TEST_TIMING, admin, channelEventRefs, sign } from '../support/webhooks.js';
import { WireClient } from '../support/wire-client.js';

// Channel events through webhooks, end to end: clients JOIN and LEAVE over the wire on a real edge,
// the sweeper ends the channels of a session that said BYE, and a real webhooks worker delivers the
// events of the channels each endpoint names, from the channels' own streams, to real receivers.

const LOCK_MS = Number(WEBHOOK_TEST_TIMING.WEBHOOK_LOCK_MS);
let stack: Stack;
let worker: WebhooksProcess;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, shards: 4, env: WEBHOOK_TEST_TIMING });
  worker = await stack.addWebhooks();
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  await stack?.stop();
});

const receiver = () => WebhookReceiver.startInto(receivers);

async function register(body: Record<string, unknown>) {
  const created = await admin(stack.apiUrl, 'POST', '/v1/webhooks', body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return webhookCreatedSchema.parse(created.body);
}

/** A session that heartbeats; `frames` are sent one after the other, each waiting for its answer. */
async function session(clientId: string, ...frames: string[]): Promise<WireClient> {
  const { client } = await WireClient.session((stack.edges[0] as { port: number }).port, clientId);
  await send(client, ...frames);
  return client;
}

async function send(client: WireClient, ...frames: string[]): Promise<void> {
  for (const frame of frames) {
    client.send(frame);
    expect(await client.nextLine(), frame).toMatch(/^(JOINED|LEFT|UPDATED) /);
  }
}

/** The channel events a receiver got (each once, by its Presence-Event-Ids entry), checked against the API's schema. */
const channelEventsOf = (capture: WebhookReceiver): ChannelEvent[] =>
  [...capture.deliveredByRef().values()].map((event) => channelEventSchema.parse(event) as ChannelEvent);
const brief = (events: readonly ChannelEvent[]) =>
  events.map((e) => `${e.channel} ${e.type} ${e.clientId}${e.reason === null ? '' : ` ${e.reason}`}`);

describe('an endpoint with channels', () => {
  it('receives the join, update and leave events of its channels, as the SSE stream sends them, and none of others', async () => {
    const rooms = await receiver();
    const joins = await receiver();
    const roomsHook = await register({ url: rooms.url, filter: { channels: ['room:1', 'room:1', 'room:3'] } });
    // Without `events`, an endpoint with channels takes their three types; a name given twice counts once.
    expect(roomsHook).toMatchObject({
      events: ['join', 'leave', 'update'],
      filter: { clientIdPrefixes: [], channels: ['room:1', 'room:3'] },
    });
    // room:2 is read for this one: were the filter ignored, its events would reach the first endpoint too.
    await register({ url: joins.url, events: ['join'], filter: { channels: ['room:2'] } });
    const sse = await SseClient.open(`${stack.apiUrl}/v1/events?channels=room:1`);
    await waitFor(() => sse.lastEventId !== null, { what: 'the SSE stream to open' });

    const alice = await session('alice', 'JOIN room:1 {"seat":1}', 'JOIN room:2', 'SET room:1 {"seat":2}');
    const bob = await session('bob', 'JOIN room:1');
    await send(alice, 'LEAVE room:1', 'LEAVE room:2');
    // bob's session ends with BYE: the sweeper leaves his channels for him (reason `leave`).
    await bob.bye();
    await waitFor(async () => (await channelEventRefs(stack, 'room:1')).length === 5, { what: "bob's leave in room:1's stream" });
    // Sentinels: the last event of each channel; one lane per channel keeps its order, so what came before has come.
    const carol = await session('carol', 'JOIN room:1', 'JOIN room:2');
    await waitFor(() => brief(channelEventsOf(rooms)).includes('room:1 join carol'), { what: "carol's join in room:1" });
    await waitFor(() => brief(channelEventsOf(joins)).includes('room:2 join carol'), { what: "carol's join in room:2" });

    expect(brief(channelEventsOf(rooms))).toEqual([
      'room:1 join alice',
      'room:1 update alice',
      'room:1 join bob',
      'room:1 leave alice left',
      'room:1 leave bob leave',
      'room:1 join carol',
    ]);
    expect(brief(channelEventsOf(joins))).toEqual(['room:2 join alice', 'room:2 join carol']);
    // Nor was anything of room:2 queued for the first endpoint (its lanes are only where its channels are).
    const redis = stack.connectRedis();
    expect(await redis.exists(webhookLaneKeys(stack.keys.webhookChannelSource('room:2'), roomsHook.id).queue)).toBe(0);
    redis.disconnect();
    // Named `<channel>=<entry id>` in Presence-Event-Ids: every event of room:1's stream, once.
    expect([...rooms.deliveredByRef().keys()]).toEqual(await channelEventRefs(stack, 'room:1'));

    // The body carries each event as the SSE stream's `data:`, byte for byte.
    await waitFor(() => sse.messages.filter((m) => m.event === 'join').length === 3, { what: 'the joins on the SSE stream' });
    const sseData = sse.messages.map((m) => m.data);
    const bodies = rooms
      .accepted()
      .flatMap((request) => (JSON.parse(request.body) as { events: unknown[] }).events.map((e) => JSON.stringify(e)));
    expect(bodies).toEqual(sseData);
    const [first] = rooms.accepted();
    const t = Number(/^t=(\d+),/.exec(String(first?.headers['presence-signature']))?.[1]);
    expect(first?.headers['presence-signature']).toBe(sign(roomsHook.secret, t, first?.body ?? ''));
    expect(channelEventsOf(rooms)[0]).toMatchObject({ occupancy: { clients: 1, sessions: 1 }, node: expect.any(String) });
    sse.close();
    carol.destroy();
    alice.destroy();
  });
});

describe('a webhooks worker killed with channel events in flight', () => {
  it('loses none: the worker that replaces it delivers every event of the channels, each channel in order', async () => {
    const capture = await receiver();
    capture.answer = () => 'hang';
    const channels = ['crash:1', 'crash:2'];
    await register({ url: capture.url, events: ['join', 'leave'], filter: { channels } });
    const sessions = await Promise.all(Array.from({ length: 5 }, (_, i) => session(`crasher-${i}`, ...channels.map((c) => `JOIN ${c}`))));
    await Promise.all(sessions.map((client) => client.bye()));
    const inFlight = await waitFor(() => capture.waiting()[0], { what: 'a request in flight from the doomed worker' });
    await stack.addWebhooks();

    await worker.stop('SIGKILL');
    const killedAt = Date.now();
    capture.answer = () => 200;
    await waitFor(() => inFlight.abandonedAt !== null, { what: 'the killed worker’s connection to close' });
    // Events after the kill need the fan-out too, which the dead worker held.
    const late = await session('crasher-late', ...channels.map((c) => `JOIN ${c}`), ...channels.map((c) => `LEAVE ${c}`));
    const expected = await waitFor(
      async () => {
        const refs = (await Promise.all(channels.map((c) => channelEventRefs(stack, c)))).flat();
        return refs.length === 24 ? refs : false;
      },
      { what: '12 joins and 12 leaves in the channels’ streams' },
    );
    await waitFor(() => capture.deliveredByRef().size === expected.length, { timeoutMs: 4 * LOCK_MS + 5_000, what: 'every channel event' });
    const recoveredMs = Date.now() - killedAt;
    expect([...capture.deliveredByRef().keys()].sort()).toEqual([...expected].sort());
    expect(inFlight.eventIds.every((ref) => capture.deliveredByRef().has(ref))).toBe(true);
    // Each channel's events arrive in its stream's order: a client's leave never before its join.
    for (const channel of channels) {
      const arrived = [...capture.deliveredByRef().keys()].filter((ref) => ref.startsWith(`${channel}=`));
      expect(arrived).toEqual(await channelEventRefs(stack, channel));
    }
    const repeats = capture.accepted().flatMap((request) => request.eventIds).length - capture.deliveredByRef().size;
    expect(repeats, 'the request that died was never answered, so nothing was accepted twice').toBe(0);
    late.destroy();
    recordFigure({
      id: 'webhook-worker-crash-channels',
      fault: 'Webhooks worker crash (SIGKILL) with channel events in flight',
      test: `an endpoint on 2 channels whose requests hang; 5 clients join both and leave (BYE, the sweeper leaves for them); the worker sending is SIGKILLed and a second one started (WEBHOOK_LOCK_MS=${LOCK_MS}); 4 more events after the kill`,
      measured: {
        'channel events delivered': `${capture.deliveredByRef().size}/${expected.length}`,
        'events lost': expected.length - capture.deliveredByRef().size,
        'events accepted twice': repeats,
        'all delivered after the kill (ms)': recoveredMs,
      },
    });
  });
});
