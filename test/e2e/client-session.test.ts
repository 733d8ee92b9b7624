import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createPresenceClient, type DisconnectedInfo, type PresenceClient, type ReconnectingInfo } from '@presence/client';
import { freePort } from '../support/free-port.js';
import { FAST_TIMING, type EdgeProcess } from '../support/stack.js';
import { controlReconnects, silentSessionTimedOut } from '../support/sentinel.js';
import { waitFor } from '../support/wait-for.js';
import { useStack, useEvents } from '../support/use-stack.js';

// The SDK against real edge nodes: one session's life, heartbeats as the edge counts them, fatal
// errors, and dead peers (one that never answers, and a real edge frozen with SIGSTOP).

interface Presence {
  online: boolean;
  sessions: { sessionId: string; node: string; meta: Record<string, unknown> | null }[];
}

const intervalMs = Number(FAST_TIMING.HEARTBEAT_INTERVAL_MS);
const timeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);
const stack = useStack({ edges: 2, sweepers: 1 });
const live = useEvents(stack);
const clients: PresenceClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

function edge(index: number): EdgeProcess {
  const found = stack.edges[index];
  if (found === undefined) throw new Error(`no edge ${index}`);
  return found;
}

function track(client: PresenceClient): PresenceClient {
  clients.push(client);
  return client;
}

async function presence(clientId: string): Promise<Presence> {
  return (await (await fetch(`${stack.apiUrl}/v1/presence/${clientId}`)).json()) as Presence;
}

async function edgeMetric(edgeProcess: EdgeProcess, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edgeProcess.env.EDGE_METRICS_PORT}/metrics`)).text();
  const match = pattern.exec(text);
  return match === null ? 0 : Number(match[1]);
}

const eventsOf = (clientId: string) =>
  live
    .events<{ type: string; reason: string | null; sessionId: string }>()
    .filter((e) => (e as { clientId?: string }).clientId === clientId);

describe('a session through the SDK', () => {
  it('connects with the server timing, shows its state over HTTP, keeps it alive by itself, and leaves with BYE', async () => {
    const client = track(createPresenceClient({ port: edge(0).port, clientId: 'sdk-alice', state: { status: 'available' } }));
    const info = await client.connect();
    expect(info).toMatchObject({ intervalMs, timeoutMs, reconnected: false, endpoint: { host: '127.0.0.1', port: edge(0).port } });
    await waitFor(async () => (await presence('sdk-alice')).sessions[0]?.meta?.status === 'available', { what: 'the initial state' });

    client.setState({ status: 'busy', room: 'r1' });
    await waitFor(async () => JSON.stringify((await presence('sdk-alice')).sessions[0]?.meta) === '{"status":"busy","room":"r1"}', {
      what: 'the new state over HTTP',
    });

    // No application traffic for two server timeouts: the SDK's heartbeats alone keep the session.
    // Two silent sessions on the same edge, one after the other, are each timed out meanwhile.
    for (const n of [1, 2]) await silentSessionTimedOut(edge(0).port, `sdk-silent-${n}`, timeoutMs);
    expect(client.status).toBe('connected');
    expect(client.sessionId).toBe(info.sessionId);
    expect(client.rttMs).not.toBeNull();
    expect(client.rttMs ?? Infinity).toBeLessThan(250);

    await client.close();
    await waitFor(() => eventsOf('sdk-alice').length === 2, { what: 'the offline event' });
    expect(eventsOf('sdk-alice').map((e) => [e.type, e.reason, e.sessionId])).toEqual([
      ['online', null, info.sessionId],
      ['offline', 'leave', info.sessionId],
    ]);
    expect(client.status).toBe('closed');
  });

  it('sends a PING only when nothing else was sent for one interval: state updates stand in for heartbeats', async () => {
    const IDLE_PINGS = 8;
    const UPDATES = 20;
    const pings = /presence_edge_heartbeats_total\{[^}]*\} (\d+)/;
    const idle = track(createPresenceClient({ port: edge(1).port, clientId: 'sdk-idle' }));
    await idle.connect();
    let before = await edgeMetric(edge(1), pings);
    const idleFrom = performance.now();
    await waitFor(async () => (await edgeMetric(edge(1), pings)) - before >= IDLE_PINGS, {
      timeoutMs: 4 * IDLE_PINGS * intervalMs,
      intervalMs: 20,
      what: `${IDLE_PINGS} heartbeats of an idle client`,
    });
    const idleMs = performance.now() - idleFrom;
    // One PING per interval while idle: 8 of them take 7 to 8 intervals (1.75-2 s; timer slack on a
    // busy machine: no faster than one per 0.9 interval, no slower than 8 intervals + 750 ms).
    expect(idleMs).toBeGreaterThanOrEqual((IDLE_PINGS - 1) * intervalMs * 0.9);
    expect(idleMs).toBeLessThanOrEqual(IDLE_PINGS * intervalMs + 750);
    await idle.close();

    const busy = track(createPresenceClient({ port: edge(1).port, clientId: 'sdk-busy', stateMinIntervalMs: 100 }));
    await busy.connect();
    before = await edgeMetric(edge(1), pings);
    let n = 0;
    const updates = setInterval(() => {
      if (n < UPDATES) busy.setState({ n: n++ });
    }, 100);
    // The window ends when the last update is visible over HTTP.
    await waitFor(async () => (await presence('sdk-busy')).sessions[0]?.meta?.n === UPDATES - 1, {
      timeoutMs: 10_000,
      what: 'the last state update over HTTP',
    });
    clearInterval(updates);
    const busyPings = (await edgeMetric(edge(1), pings)) - before;
    // Every update rides on a PING (20 of them over 2 s, some may be merged) and no heartbeat is added between them:
    // without the rule it would be 20 + 8.
    expect(busyPings).toBeGreaterThanOrEqual(UPDATES - 5);
    expect(busyPings).toBeLessThanOrEqual(UPDATES + 2);
    await busy.close();
  });
});

describe('fatal errors stop the client for good', () => {
  it('ERR bad_client_id: connect() rejects, error is emitted, and no reconnect follows', async () => {
    const reconnects: ReconnectingInfo[] = [];
    const errors: string[] = [];
    const client = track(createPresenceClient({ port: edge(0).port, clientId: 'bad{id}', backoffBaseMs: 50 }));
    client.on('reconnecting', (info) => reconnects.push(info)).on('error', (e) => errors.push(e.code));
    await expect(client.connect()).rejects.toMatchObject({ code: 'bad_client_id' });
    expect(errors).toEqual(['bad_client_id']);
    // A client with the same backoff that may retry makes three attempts meanwhile.
    await controlReconnects(50, 3);
    expect(reconnects).toEqual([]);
    expect(client.status).toBe('closed');
    expect(await edgeMetric(edge(0), /presence_edge_protocol_errors_total\{code="bad_client_id"[^}]*\} (\d+)/)).toBe(1);
  });

  it('ERR unauthorized from an edge that checks tokens is fatal too', async () => {
    const authEdge = await stack.addEdge({ AUTH_MODE: 'jwt', JWT_SECRET: 'a-test-secret-of-at-least-32-characters' });
    try {
      const reconnects: ReconnectingInfo[] = [];
      const client = track(createPresenceClient({ port: authEdge.port, clientId: 'sdk-intruder', token: 'not-a-jwt', backoffBaseMs: 50 }));
      client.on('reconnecting', (info) => reconnects.push(info));
      await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
      await controlReconnects(50, 3);
      expect(reconnects).toEqual([]);
      expect(await edgeMetric(authEdge, /presence_edge_protocol_errors_total\{code="unauthorized"[^}]*\} (\d+)/)).toBe(1);
    } finally {
      await authEdge.stop('SIGTERM');
    }
  });
});

describe('dead-server detection', () => {
  let fake: Server;
  const accepted: Socket[] = [];
  const closedByPeer = new Set<Socket>();

  afterAll(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => fake?.close(() => resolve()));
  });

  it('gives up on a peer that accepts TCP but never answers, after connectTimeoutMs, and closes that socket', async () => {
    // The one fake here: it accepts and never writes a byte (a hung process, a black-holing proxy).
    fake = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
      socket.on('close', () => closedByPeer.add(socket));
      socket.resume();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => fake.listen(port, '127.0.0.1', resolve));
    const connectTimeoutMs = 500;
    const client = track(createPresenceClient({ port, clientId: 'sdk-hung', connectTimeoutMs, backoffBaseMs: 5_000 }));
    const started = performance.now();
    const first = new Promise<ReconnectingInfo>((resolve) => client.once('reconnecting', resolve));
    void client.connect().catch(() => {});
    const info = await first;
    const detectedMs = performance.now() - started;
    console.info(
      `[figure] dead peer (accepts, never answers) detected after ${detectedMs.toFixed(0)} ms (connectTimeoutMs ${connectTimeoutMs})`,
    );
    expect(info).toMatchObject({ reason: 'dead', attempt: 1 });
    expect(info.error?.message).toMatch(/no WELCOME .* within 500 ms/);
    expect(detectedMs).toBeGreaterThanOrEqual(connectTimeoutMs - 5);
    expect(detectedMs).toBeLessThan(connectTimeoutMs + 300);
    const socket = accepted[0];
    await waitFor(() => socket !== undefined && closedByPeer.has(socket), { what: 'the client to close its socket' });
    await client.close();
  });

  it('declares a live connection dead when its edge freezes (SIGSTOP: TCP stays up, nothing answers) and moves to another edge', async () => {
    const frozen = await stack.addEdge();
    const disconnects: DisconnectedInfo[] = [];
    const client = track(
      createPresenceClient({
        endpoints: [
          { host: '127.0.0.1', port: frozen.port },
          { host: '127.0.0.1', port: edge(1).port },
        ],
        clientId: 'sdk-frozen',
        state: { keep: 'me' },
        backoffBaseMs: 100,
      }),
    );
    client.on('disconnected', (info) => disconnects.push(info));
    await client.connect();
    const pid = frozen.pid;
    if (pid === undefined) throw new Error('the edge has no pid');
    const reconnected = new Promise<number>((resolve) => client.once('connected', () => resolve(performance.now())));
    const stoppedAt = performance.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(() => disconnects.length > 0, {
        timeoutMs: intervalMs + timeoutMs + 2_000,
        what: 'the connection to be declared dead',
      });
      const detectedMs = performance.now() - stoppedAt;
      const backMs = (await reconnected) - stoppedAt;
      console.info(
        `[figure] frozen edge detected after ${detectedMs.toFixed(0)} ms (bound: interval ${intervalMs} + timeout ${timeoutMs}); ` +
          `online on another edge after ${backMs.toFixed(0)} ms`,
      );
      expect(disconnects[0]).toMatchObject({ reason: 'dead', willReconnect: true });
      // The first unanswered PING goes out within one interval of the freeze; dead one timeout later.
      expect(detectedMs).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(detectedMs).toBeLessThanOrEqual(intervalMs + timeoutMs + 300);
      const after = await waitFor(
        async () => {
          const p = await presence('sdk-frozen');
          return p.sessions.some((s) => s.node === 'edge-1' && s.meta?.keep === 'me') ? p : false;
        },
        { what: 'the session and its state on edge-1' },
      );
      expect(after.online).toBe(true);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await client.close();
    await frozen.stop('SIGTERM');
  });
});
