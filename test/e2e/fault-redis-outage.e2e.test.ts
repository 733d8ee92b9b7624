import { afterEach, describe, expect, it } from 'vitest';
import { createRedisConnection } from '@presence/presence-store';
import { recordFigure, scaled } from '../support/figures.js';
import { RedisServer } from '../support/redis-server.js';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING, Stack } from '../support/stack.js';
import { expiringSentinel, isSentinel } from '../support/sentinel.js';
import { createTestStore } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
  at: number;
}

const sessionTtlMs = Number(FAST_TIMING.SESSION_TTL_MS);
const CLIENTS = 500;
const LEAVERS = scaled(50, 20);
const CLOSERS = scaled(50, 20);

let stack: Stack | null = null;
let redis: RedisServer | null = null;
let sse: SseClient | null = null;
let clients: WireClient[] = [];

afterEach(async () => {
  sse?.close();
  for (const client of clients) client.destroy();
  clients = [];
  await stack?.stop();
  await redis?.kill();
  stack = null;
  redis = null;
});

const until = (ms: number, what: string) => {
  const end = Date.now() + ms;
  return waitFor(() => Date.now() >= end, { timeoutMs: ms + 5_000, what });
};

describe.each([
  ['empty', false],
  ['with its data (AOF)', true],
])('Redis stopped for twice the session TTL, then restarted %s', (label, persistent) => {
  it('keeps every connection, reports only the clients that really left, and never expires the others', async () => {
    redis = await RedisServer.start({ appendOnly: persistent });
    stack = await Stack.start({ redisUrl: redis.url, edges: 2, sweepers: 2 });
    const api = stack.apiUrl;
    sse = await SseClient.open(`${api}/v1/events`);
    await waitFor(() => sse?.lastEventId !== null, { what: 'SSE open' });
    const live = sse;
    const ports = stack.edges.map((edge) => edge.port);

    const sessions = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => WireClient.session(ports[i % ports.length] as number, `outage-${i}`)),
    );
    clients = sessions.map((s) => s.client);
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'online').length === CLIENTS, {
      timeoutMs: 30_000,
      what: `${CLIENTS} online events`,
    });
    const leavers = clients.slice(0, LEAVERS);
    const closers = clients.slice(LEAVERS, LEAVERS + CLOSERS);
    const stayers = clients.slice(LEAVERS + CLOSERS);

    await redis.kill();
    const downAt = Date.now();

    // While Redis is down: the API says so, the edges keep serving.
    await waitFor(async () => (await fetch(`${api}/readyz`)).status === 503, { what: '/readyz to say not ready' });
    const query = await fetch(`${api}/v1/presence/outage-0`);
    expect(query.status).toBe(503);
    expect(await query.json()).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
    await Promise.all(leavers.map((client) => client.bye()));
    for (const client of closers) client.destroy();
    const probe = stayers[0] as WireClient;
    probe.stopHeartbeat();
    probe.send('PING');
    expect(await probe.nextLine(2_000, false)).toBe('PONG');
    probe.startHeartbeat(250);
    await until(2 * sessionTtlMs - (Date.now() - downAt), 'twice the session TTL');

    await redis.start();
    const upAt = Date.now();
    await waitFor(async () => (await fetch(`${api}/readyz`)).ok, { timeoutMs: 15_000, what: 'the API to be ready again' });
    const readyAfterMs = Date.now() - upAt;

    const offline = () => live.events<Event>().filter((e) => e.type === 'offline' && !isSentinel(e.clientId));
    await waitFor(() => offline().length >= LEAVERS + CLOSERS, { timeoutMs: 15_000, what: 'offline events of the leavers' });
    const reportedAfterMs = Date.now() - upAt;
    // Quiet period: the sweeper's hold-off, a TTL and some sweeps, in which stayers must not expire.
    // A sentinel session due at its end closes it: a sweep after the hold-off reports it.
    const sentinelRedis = createRedisConnection({ url: redis.url, mode: 'standalone' });
    try {
      const sentinel = await expiringSentinel(createTestStore(sentinelRedis, { prefix: stack.prefix }), 2 * sessionTtlMs + 2_000);
      await waitFor(() => live.events<Event>().some((e) => e.type === 'offline' && e.clientId === sentinel), {
        timeoutMs: 2 * sessionTtlMs + 10_000,
        what: 'the sentinel to expire after the quiet period',
      });
    } finally {
      sentinelRedis.disconnect();
    }

    const stayerIds = new Set(stayers.map((_, i) => `outage-${LEAVERS + CLOSERS + i}`));
    const falseOffline = offline().filter((e) => stayerIds.has(e.clientId));
    const byReason = (reason: string) =>
      offline()
        .filter((e) => e.reason === reason)
        .map((e) => e.clientId)
        .sort();
    expect(falseOffline).toEqual([]);
    expect(byReason('leave')).toEqual(Array.from({ length: LEAVERS }, (_, i) => `outage-${i}`).sort());
    expect(byReason('closed')).toEqual(Array.from({ length: CLOSERS }, (_, i) => `outage-${LEAVERS + i}`).sort());
    expect(offline().length).toBe(LEAVERS + CLOSERS);
    // The edges' end times are when the clients left, during the outage, not when Redis came back.
    const lateEnds = offline().filter((e) => e.at >= upAt);
    expect(lateEnds).toEqual([]);
    expect(clients.filter((c) => stayers.includes(c) && c.ended)).toEqual([]);

    const bulk = await fetch(`${api}/v1/presence/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientIds: [...stayerIds] }),
    });
    const results = ((await bulk.json()) as { results: { online: boolean }[] }).results;
    expect(results.filter((r) => !r.online)).toEqual([]);

    const sweeperLogs = stack.sweepers.map((s) => s.log()).join('');
    expect(sweeperLogs).toContain('holding off session expiry');
    const onlineAgain = live.events<Event>().filter((e) => e.type === 'online').length - CLIENTS;
    recordFigure({
      id: `redis-outage-${persistent ? 'aof' : 'empty'}`,
      fault: `Redis outage, restarted ${label}`,
      test: `${CLIENTS} clients heartbeating on 2 edges; Redis SIGKILLed for ${2 * sessionTtlMs} ms (2 x session TTL); ${LEAVERS} clients say BYE and ${CLOSERS} drop their socket during the outage`,
      measured: {
        'connections kept': `${stayers.length - clients.filter((c) => stayers.includes(c) && c.ended).length}/${stayers.length}`,
        'false offline events': falseOffline.length,
        'leavers reported (real reason)': `${byReason('leave').length + byReason('closed').length}/${LEAVERS + CLOSERS}`,
        'offline events with a post-outage time': lateEnds.length,
        'online events re-sent after recovery': onlineAgain,
        'API ready after restart (ms)': readyAfterMs,
        'leavers reported after restart (ms)': reportedAfterMs,
      },
    });
  });
});
