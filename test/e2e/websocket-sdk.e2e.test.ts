import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresenceClient, type DisconnectedInfo, type PresenceClient } from '@presence/client';
import { SseClient } from '../support/sse-client.js';
import { Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WsClient } from '../support/ws-client.js';

/** The SDK over WebSocket in Node 20 (the `ws` package), against real edge processes. */

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
}

const GRACE_MS = 4_000;
let stack: Stack;
let edge: EdgeProcess;
let live: SseClient;
const clients: PresenceClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 1, env: { OFFLINE_GRACE_MS: String(GRACE_MS) } });
  edge = await stack.addEdge();
  live = await SseClient.open(`${stack.apiUrl}/v1/events`);
  await waitFor(() => live.lastEventId !== null, { what: 'the SSE stream to open' });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
  live?.close();
  await stack?.stop();
});

const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

async function presence(clientId: string): Promise<{ online: boolean; sessions: { meta: unknown }[] }> {
  return (await (await fetch(`${stack.apiUrl}/v1/presence/${clientId}`)).json()) as never;
}

function client(clientId: string, state?: Record<string, unknown>): PresenceClient {
  const c = createPresenceClient({
    url: WsClient.url(edge.wsPort),
    clientId,
    ...(state === undefined ? {} : { state }),
    backoffBaseMs: 100,
    backoffCapMs: 500,
    shutdownJitterMs: 200,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

describe('the SDK over WebSocket', () => {
  it('connects with url, shows its state over HTTP, and leaves with BYE', async () => {
    const c = client('sdk-ws-basic', { page: 'home' });
    const info = await c.connect();
    expect(info.endpoint.url).toBe(WsClient.url(edge.wsPort));
    // Not yet registered (no session) is undefined, registered without its state yet is null: wait for both.
    await waitFor(async () => ((await presence('sdk-ws-basic')).sessions[0]?.meta ?? null) !== null, { what: 'the state over HTTP' });
    expect((await presence('sdk-ws-basic')).sessions).toMatchObject([{ meta: { page: 'home' } }]);
    c.setState({ page: 'settings' });
    await waitFor(async () => JSON.stringify((await presence('sdk-ws-basic')).sessions[0]?.meta) === '{"page":"settings"}', {
      what: 'the new state',
    });
    await c.close();
    await waitFor(() => eventsOf('sdk-ws-basic').length === 2, { what: 'the offline event' });
    expect(eventsOf('sdk-ws-basic').map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'leave'],
    ]);
  });

  it('a fatal ERR (bad clientId) rejects connect() and closes the client, as over TCP', async () => {
    const c = client('bad/id');
    await expect(c.connect()).rejects.toMatchObject({ code: 'bad_client_id' });
    expect(c.status).toBe('closed');
  });

  it('SIGTERM drain: BYE shutdown, the SDK reconnects by itself within the grace, and no offline event is written', async () => {
    const c = client('sdk-ws-drain');
    const disconnects: DisconnectedInfo[] = [];
    c.on('disconnected', (info) => disconnects.push(info));
    await c.connect();
    await waitFor(() => eventsOf('sdk-ws-drain').length === 1, { what: 'the online event' });
    const drainedAt = Date.now();
    expect(await edge.stop('SIGTERM')).toBe(0);
    expect(disconnects.map((d) => [d.reason, d.willReconnect])).toEqual([['shutdown', true]]);
    await stack.startEdge(edge);
    await waitFor(() => c.status === 'connected', { timeoutMs: GRACE_MS, what: 'the SDK to reconnect' });
    const reconnectedAfterMs = Date.now() - drainedAt;
    expect(reconnectedAfterMs).toBeLessThan(GRACE_MS);
    // Sentinel, once the grace of the drained session is over: another client's online and offline.
    await waitFor(() => Date.now() > drainedAt + GRACE_MS + 1_000, { timeoutMs: GRACE_MS + 2_000, what: 'the grace to pass' });
    const sentinel = await WsClient.session(edge.wsPort, 'sdk-ws-drain-sentinel');
    await sentinel.client.bye();
    await waitFor(() => eventsOf('sdk-ws-drain-sentinel').length === 2, { what: 'the sentinel events' });
    expect(eventsOf('sdk-ws-drain').map((e) => e.type)).toEqual(['online']);
    expect((await presence('sdk-ws-drain')).online).toBe(true);
  });
});
