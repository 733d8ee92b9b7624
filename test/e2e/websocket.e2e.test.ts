import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKeys, mintToken, type JwtKeys } from '../support/jwt-keys.js';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING, Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { UpgradeRefused, WsClient } from '../support/ws-client.js';

/** The WebSocket binding of the protocol (docs/protocol.md), over real sockets against real edge processes. */

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  sessionId: string;
  node: string;
  reason: string | null;
}

const heartbeatTimeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);

let keys: JwtKeys;
let stack: Stack;
let live: SseClient;
/** AUTH_MODE=none, every origin allowed (the default without auth). */
let open: EdgeProcess;
/** AUTH_MODE=jwt, same-host pages and one listed origin; logs at debug level, where a leaked token would show. */
let secured: EdgeProcess;
/**
 * A high frame rate limit, so that only backpressure can stop a flooding client (in production the
 * limit, 50 a second, refuses a flooder first). Parsing its messages keeps the node busy, so on a
 * loaded machine the node's refresh and idle scan get a few seconds more than FAST_TIMING gives.
 */
let fast: EdgeProcess;

beforeAll(async () => {
  keys = await createJwtKeys();
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 1 });
  [open, secured, fast] = await Promise.all([
    stack.addEdge(),
    stack.addEdge({ AUTH_MODE: 'jwt', JWT_SECRET: keys.secret, ALLOWED_ORIGINS: 'https://app.example.com', LOG_LEVEL: 'debug' }),
    stack.addEdge({ MAX_FRAMES_PER_SECOND: '1000000', SESSION_TTL_MS: '6000', HEARTBEAT_TIMEOUT_MS: '6000' }),
  ]);
  live = await SseClient.open(`${stack.apiUrl}/v1/events`);
  await waitFor(() => live.lastEventId !== null, { what: 'the SSE stream to open' });
});

afterAll(async () => {
  live?.close();
  await stack?.stop();
});

const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

async function presence(clientId: string): Promise<{ online: boolean; sessions: { sessionId: string; node: string; meta: unknown }[] }> {
  const res = await fetch(`${stack.apiUrl}/v1/presence/${clientId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

describe('a session over WebSocket', () => {
  it('HELLO → WELCOME, PING → PONG, state, BYE: one frame per text message, shown online over HTTP like a TCP client', async () => {
    const client = await WsClient.connect(WsClient.url(open.wsPort));
    // A trailing newline is accepted, and none is required.
    client.send('HELLO ws-basic\n');
    const welcome = await client.next();
    expect(welcome).toMatch(/^WELCOME [0-9a-f]{20} 250 1500$/);
    const sessionId = welcome.split(' ')[1];
    client.send('PING');
    client.send('PING {"page":"/home"}');
    client.send('');
    client.send('PING\r\n');
    // Server frames carry no newline; every PING its PONG, in order.
    expect([await client.next(), await client.next(), await client.next()]).toEqual(['PONG', 'PONG', 'PONG']);
    await waitFor(async () => ((await presence('ws-basic')).sessions[0]?.meta ?? null) !== null && (await presence('ws-basic')).online, {
      what: 'online with its state over HTTP',
    });
    expect((await presence('ws-basic')).sessions).toMatchObject([{ sessionId, node: 'edge-0', meta: { page: '/home' } }]);
    expect(await client.bye()).toEqual({ code: 1000, reason: '' });
    await waitFor(() => eventsOf('ws-basic').length === 2, { what: 'online and offline events' });
    expect(eventsOf('ws-basic').map((e) => [e.type, e.reason, e.sessionId])).toEqual([
      ['online', null, sessionId],
      ['offline', 'leave', sessionId],
    ]);
  });

  it('a WebSocket ping counts as traffic; silence ends the session with BYE timeout and close 1000', async () => {
    const { client } = await WsClient.session(open.wsPort, 'ws-pinger', 0);
    const pinging = setInterval(() => client.ws.ping(), 250);
    const until = Date.now() + 2 * heartbeatTimeoutMs;
    await waitFor(() => Date.now() > until || client.ended, { timeoutMs: 3 * heartbeatTimeoutMs, what: 'twice the heartbeat timeout' });
    expect(client.ended).toBe(false);
    clearInterval(pinging);
    expect(await client.next(heartbeatTimeoutMs + 1_000)).toBe('BYE timeout');
    expect(await client.closed).toEqual({ code: 1000, reason: 'timeout' });
    await waitFor(() => eventsOf('ws-pinger').at(-1)?.reason === 'timeout', { what: 'offline timeout' });
  });
});

describe('bad input over WebSocket: the ERR of TCP, then a close code; a bystander on the node is unaffected', () => {
  const cases: { name: string; send: (client: WsClient) => void; err: RegExp | null; code: number }[] = [
    { name: 'a binary message', send: (c) => c.send(Buffer.from('PING'), true), err: /^ERR bad_frame binary/, code: 1003 },
    { name: 'invalid UTF-8', send: (c) => c.send(Buffer.from([0x50, 0x49, 0xff, 0xfe])), err: /^ERR bad_frame .*UTF-8/, code: 1007 },
    { name: 'a message over the frame limit', send: (c) => c.send('PING ' + 'x'.repeat(4_100)), err: /^ERR frame_too_large /, code: 1009 },
    { name: 'a message over 64 KiB (refused by its header)', send: (c) => c.send('x'.repeat(70_000)), err: null, code: 1009 },
    { name: 'an unknown verb', send: (c) => c.send('JUMP'), err: /^ERR bad_frame unknown command/, code: 1008 },
    { name: 'a bad state', send: (c) => c.send('PING [1]'), err: /^ERR bad_state /, code: 1008 },
    { name: 'two frames in one message', send: (c) => c.send('PING\nPING'), err: /^ERR bad_frame /, code: 1008 },
  ];

  it.each(cases)('$name', async ({ name, send, err, code }) => {
    const clientId = `ws-bad-${cases.findIndex((c) => c.name === name)}`;
    const bystander = await WsClient.session(open.wsPort, `${clientId}-bystander`, 0);
    const { client, sessionId } = await WsClient.session(open.wsPort, clientId, 0);
    send(client);
    const closed = await client.closed;
    const rest = client.messages.slice(1);
    if (err === null) expect(rest).toEqual([]);
    else {
      expect(rest).toHaveLength(1);
      expect(rest[0]).toMatch(err);
    }
    expect(closed.code).toBe(code);
    await waitFor(() => eventsOf(clientId).some((e) => e.type === 'offline'), { what: 'the offline event' });
    expect(eventsOf(clientId).at(-1)).toMatchObject({ type: 'offline', reason: 'closed', sessionId });
    // The bystander's session goes on: PONG, and still online.
    bystander.client.send('PING');
    expect(await bystander.client.next()).toBe('PONG');
    expect((await presence(`${clientId}-bystander`)).online).toBe(true);
    await bystander.client.bye();
  });

  it('before HELLO: ERR hello_required with close 1008', async () => {
    const client = await WsClient.connect(WsClient.url(open.wsPort));
    client.send('PING');
    expect(await client.next()).toMatch(/^ERR hello_required /);
    expect((await client.closed).code).toBe(1008);
  });
});

describe('backpressure over WebSocket', () => {
  it('a client that stops reading is dropped once 64 KiB are unsent (no close frame); a bystander keeps its PONGs', async () => {
    // The bystander PINGs every 250 ms throughout, and must be answered each time.
    const bystander = await WsClient.session(fast.wsPort, 'ws-polite');
    const { client: flooder } = await WsClient.session(fast.wsPort, 'ws-flooder', 0);
    // It stops reading its socket, and writes PINGs as fast as it can.
    flooder.ws.pause();
    const capBytes = 64 * 1024 * 1024;
    let sentBytes = 0;
    const started = Date.now();
    while (!flooder.ended && sentBytes < capBytes) {
      for (let i = 0; i < 2_000; i += 1) flooder.send('PING');
      sentBytes += 2_000 * 10;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(flooder.ended).toBe(true);
    expect((await flooder.closed).code).toBe(1006);
    await waitFor(() => eventsOf('ws-flooder').at(-1)?.type === 'offline', { what: "the flooder's offline event" });
    expect(eventsOf('ws-flooder').at(-1)?.reason).toBe('closed');
    expect(fast.log()).toContain('client is not reading');
    // The bystander's session went on: a PONG for every PING, nothing else, during the whole flood.
    const pongsBefore = bystander.client.messages.length;
    await waitFor(() => bystander.client.messages.length > pongsBefore, { what: 'one more PONG of the bystander' });
    expect(bystander.client.ended).toBe(false);
    expect(new Set(bystander.client.messages.slice(1))).toEqual(new Set(['PONG']));
    // And it never appeared offline (the flooder's offline event, written after, closes the window).
    expect(eventsOf('ws-polite').map((e) => e.type)).toEqual(['online']);
    expect(bystander.client.messages.length).toBeGreaterThan((Date.now() - started) / 250 / 2);
    await bystander.client.bye();
  });
});

describe('the upgrade', () => {
  const upgradeStatus = (url: string, headers: Record<string, string> = {}) =>
    WsClient.connect(url, headers).then(
      (client) => {
        client.destroy();
        return 101;
      },
      (error: unknown) => {
        if (error instanceof UpgradeRefused) return error.status;
        throw error;
      },
    );

  it('with auth on: pages of other sites get HTTP 403 before any session; listed origins, same-host pages and non-browsers are upgraded', async () => {
    const url = WsClient.url(secured.wsPort);
    expect(await upgradeStatus(url, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(url, { origin: 'null' })).toBe(403);
    expect(await upgradeStatus(url, { origin: 'https://app.example.com' })).toBe(101);
    expect(await upgradeStatus(url, { origin: 'http://127.0.0.1:8080' })).toBe(101);
    expect(await upgradeStatus(url)).toBe(101);
  });

  it('an upgrade request that never completes is cut off within HELLO_TIMEOUT_MS (+ the check interval), as a silent TCP client', async () => {
    const helloTimeoutMs = Number(FAST_TIMING.HELLO_TIMEOUT_MS);
    const socket = connect(open.wsPort, '127.0.0.1');
    socket.on('error', () => {});
    const startedAt = Date.now();
    socket.write('GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    const closedAfterMs = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - startedAt)));
    expect(closedAfterMs).toBeGreaterThanOrEqual(helloTimeoutMs - 50);
    expect(closedAfterMs).toBeLessThan(helloTimeoutMs + helloTimeoutMs / 4 + 1_000);
  });

  it('without auth, any origin is upgraded; another path is 404 and a plain HTTP request 426', async () => {
    expect(await upgradeStatus(WsClient.url(open.wsPort), { origin: 'https://anyone.example' })).toBe(101);
    expect(await upgradeStatus(`ws://127.0.0.1:${open.wsPort}/ws`)).toBe(404);
    const plain = await fetch(`http://127.0.0.1:${open.wsPort}/v1/ws`);
    expect(plain.status).toBe(426);
    await plain.text();
  });

  it('the token may come as ?token= (HELLO without one); a bad one is ERR unauthorized, close 1008; no token is ever logged', async () => {
    const good = await mintToken({ alg: 'HS256', key: keys.secret, sub: 'ws-url-token' });
    const wrongSubject = await mintToken({ alg: 'HS256', key: keys.secret, sub: 'someone-else' });
    const client = await WsClient.connect(WsClient.url(secured.wsPort, `?token=${good}`));
    client.send('HELLO ws-url-token');
    expect(await client.next()).toMatch(/^WELCOME /);
    await waitFor(async () => (await presence('ws-url-token')).online, { what: 'online over HTTP' });
    await client.bye();

    const refused = await WsClient.connect(WsClient.url(secured.wsPort, `?token=${wrongSubject}`));
    refused.send('HELLO ws-url-token');
    expect(await refused.next()).toMatch(/^ERR unauthorized /);
    expect(await refused.closed).toEqual({ code: 1008, reason: 'unauthorized' });
    // And a refused origin with a token in its URL (logged at info level with the origin), and a
    // malformed request holding one (Node keeps its raw bytes on the error it reports).
    await upgradeStatus(WsClient.url(secured.wsPort, `?token=${good}`), { origin: 'https://evil.example' });
    const malformed = connect(secured.wsPort, '127.0.0.1');
    malformed.on('error', () => {});
    malformed.write(`GET /v1/ws?token=${good} HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n`);
    await new Promise((resolve) => malformed.once('close', resolve));

    await waitFor(() => secured.log().includes('WebSocket origin refused'), { what: 'the refusal to be logged' });
    const log = secured.log();
    expect(log).toContain('session started');
    // Bytes logged as a JSON Buffer (`{"type":"Buffer","data":[71,69,…]}`) are read as text too.
    const logBytes = [...log.matchAll(/"data":\[([\d,]+)\]/g)].map((m) =>
      Buffer.from((m[1] ?? '').split(',').map(Number)).toString('latin1'),
    );
    expect(log).toContain('bad HTTP request on the WebSocket port');
    for (const token of [good, wrongSubject]) {
      expect(log).not.toContain(token);
      for (const bytes of logBytes) expect(bytes).not.toContain(token);
      // Not even a recognisable part of it (the signature).
      expect(log).not.toContain(token.split('.')[2]);
    }
  });
});

describe('sessions across transports', () => {
  it('a client with a TCP and a WebSocket session at once gets one online and one offline event', async () => {
    const tcp = await WireClient.session(open.port, 'ws-mixed');
    await waitFor(() => eventsOf('ws-mixed').length === 1, { what: 'the online event' });
    const ws = await WsClient.session(open.wsPort, 'ws-mixed');
    await waitFor(async () => (await presence('ws-mixed')).sessions.length === 2, { what: 'two sessions over HTTP' });
    await tcp.client.bye();
    await waitFor(async () => (await presence('ws-mixed')).sessions.length === 1, { what: 'one session left' });
    // Sentinel: a session of another client, opened and closed after the TCP one ended.
    const sentinel = await WsClient.session(open.wsPort, 'ws-mixed-sentinel');
    await sentinel.client.bye();
    await waitFor(() => eventsOf('ws-mixed-sentinel').length === 2, { what: 'the sentinel events' });
    expect(eventsOf('ws-mixed').map((e) => e.type)).toEqual(['online']);
    expect((await presence('ws-mixed')).online).toBe(true);
    await ws.client.bye();
    await waitFor(() => eventsOf('ws-mixed').length === 2, { what: 'the offline event' });
    expect(eventsOf('ws-mixed').map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'leave'],
    ]);
  });
});

describe('the edge process dies', () => {
  it('SIGKILL: its WebSocket clients go offline as expired', async () => {
    const doomed = await stack.addEdge();
    const clients = await Promise.all([0, 1, 2].map((i) => WsClient.session(doomed.wsPort, `ws-killed-${i}`)));
    await waitFor(() => [0, 1, 2].every((i) => eventsOf(`ws-killed-${i}`).length === 1), { what: 'online events' });
    await doomed.stop('SIGKILL');
    await Promise.all(clients.map(({ client }) => client.closed));
    await waitFor(() => [0, 1, 2].every((i) => eventsOf(`ws-killed-${i}`).length === 2), { timeoutMs: 10_000, what: 'offline events' });
    expect([0, 1, 2].map((i) => eventsOf(`ws-killed-${i}`).at(-1)?.reason)).toEqual(['expired', 'expired', 'expired']);
  });
});
