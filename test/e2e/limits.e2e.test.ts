import { connect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { FAST_TIMING, type EdgeProcess } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';
import { useEvents, useStack, useTestStore } from '../support/use-stack.js';
import { sessionMember } from '@presence/wire-format';
import { WireClient } from '../support/wire-client.js';
import { fetchFresh } from '../support/fetch-fresh.js';

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  sessionId: string;
  reason: string | null;
}

interface Presence {
  online: boolean;
  sessions: { sessionId: string; node: string; meta: unknown }[];
}

const MAX_CONNECTIONS = 3;
const MAX_CONNECTIONS_PER_ADDRESS = 2;
const MAX_FRAMES_PER_SECOND = 20;
const MAX_SESSIONS_PER_CLIENT = 2;
const MAX_STATE_BYTES = 64;

// One sweeper: sessions of a killed edge expire only through it.
const stack = useStack({ edges: 0, sweepers: 1 });
let busy: EdgeProcess;
let perAddress: EdgeProcess;
let rate: EdgeProcess;
/** Two edges with the per-client session limit (and a small state limit): a client's sessions may be on either. */
let sessionsA: EdgeProcess;
let sessionsB: EdgeProcess;
/** One more with the same limits, killed by a test. */
let doomed: EdgeProcess;

const live = useEvents(stack);
const { redis, store } = useTestStore(stack);

beforeAll(async () => {
  const sessionLimits = { MAX_SESSIONS_PER_CLIENT: String(MAX_SESSIONS_PER_CLIENT), MAX_STATE_BYTES: String(MAX_STATE_BYTES) };
  [busy, perAddress, rate, sessionsA, sessionsB, doomed] = await Promise.all([
    stack.addEdge({ MAX_CONNECTIONS: String(MAX_CONNECTIONS) }),
    stack.addEdge({ MAX_CONNECTIONS_PER_ADDRESS: String(MAX_CONNECTIONS_PER_ADDRESS) }),
    stack.addEdge({ MAX_FRAMES_PER_SECOND: String(MAX_FRAMES_PER_SECOND) }),
    stack.addEdge(sessionLimits),
    stack.addEdge(sessionLimits),
    stack.addEdge(sessionLimits),
  ]);
});

async function edgeMetric(edge: EdgeProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetchFresh(`http://127.0.0.1:${edge.env.EDGE_METRICS_PORT}/metrics`)).text();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match !== null && match[1] === name && (match[2] ?? '').includes(labels)) return Number(match[3]);
  }
  return 0;
}

/** The edge has processed every close so far (e.g. the start-up probe): it holds exactly `count` connections. */
async function connectionsSettle(edge: EdgeProcess, count: number): Promise<void> {
  await waitFor(async () => (await edgeMetric(edge, 'presence_edge_connections')) === count, {
    timeoutMs: 5_000,
    what: `${edge.name} to hold ${count} connections`,
  });
}

async function presence(clientId: string): Promise<Presence> {
  const res = await fetchFresh(`${stack.apiUrl}/v1/presence/${clientId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Presence;
}

/** Expects the server's next line to be `ERR <code> …` and the connection to close right after. */
async function rejectedWith(client: WireClient, code: string): Promise<string> {
  const line = await client.nextLine(5_000);
  expect(line).toMatch(new RegExp(`^ERR ${code} `));
  await client.closed;
  return line;
}

/** Still served: a PING gets its PONG. */
async function answers(client: WireClient): Promise<void> {
  client.send('PING');
  expect(await client.nextLine(3_000, false)).toBe('PONG');
}

/** A connection from a chosen loopback source address, reading lines. */
class LineSocket {
  readonly lines: string[] = [];
  readonly closed: Promise<void>;
  private buffer = '';

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const parts = (this.buffer + chunk).split('\n');
      this.buffer = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(port: number, localAddress: string): Promise<LineSocket> {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new LineSocket(socket);
  }

  async hello(clientId: string): Promise<string> {
    this.socket.write(`HELLO ${clientId}\n`);
    return waitFor(() => this.lines[0], { timeoutMs: 5_000, what: `an answer to HELLO ${clientId}` });
  }
}

describe('MAX_CONNECTIONS', () => {
  it(`the connection over ${MAX_CONNECTIONS} gets ERR server_busy and is closed; the others keep working; a freed slot is usable`, async () => {
    await connectionsSettle(busy, 0);
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, (_, i) => WireClient.session(busy.port, `busy-${i}`, 0)));

    const extra = await WireClient.connect(busy.port);
    expect(await rejectedWith(extra, 'server_busy')).toBe('ERR server_busy this node is full; try again later or another node');
    for (const { client } of held) await answers(client);

    // One leaves: the next connection gets in.
    await held[0]?.client.bye();
    await connectionsSettle(busy, MAX_CONNECTIONS - 1);
    const { client: next } = await WireClient.session(busy.port, 'busy-next', 0);
    await answers(next);
    expect(await edgeMetric(busy, 'presence_edge_protocol_errors_total', 'code="server_busy"')).toBe(1);
    await Promise.all([next, ...held.slice(1).map((h) => h.client)].map((c) => c.bye()));
  });

  it('connections that have not said HELLO take a slot too', async () => {
    await connectionsSettle(busy, 0);
    const silent = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => WireClient.connect(busy.port)));
    await connectionsSettle(busy, MAX_CONNECTIONS);
    const extra = await WireClient.connect(busy.port);
    await rejectedWith(extra, 'server_busy');
    for (const client of silent) client.destroy();
  });
});

describe('MAX_CONNECTIONS_PER_ADDRESS', () => {
  it(`from 127.0.0.1 the connection over ${MAX_CONNECTIONS_PER_ADDRESS} gets ERR too_many_connections, while 127.0.0.2 still gets in`, async () => {
    await connectionsSettle(perAddress, 0);
    const local = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS_PER_ADDRESS }, (_, i) => WireClient.session(perAddress.port, `addr-one-${i}`, 0)),
    );

    const extra = await WireClient.connect(perAddress.port);
    expect(await rejectedWith(extra, 'too_many_connections')).toBe(
      `ERR too_many_connections at most ${MAX_CONNECTIONS_PER_ADDRESS} connections per address`,
    );

    // Another source address has its own count: two get in, the third is refused.
    const others = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS_PER_ADDRESS }, () => LineSocket.connect(perAddress.port, '127.0.0.2')),
    );
    const welcomes = await Promise.all(others.map((o, i) => o.hello(`addr-two-${i}`)));
    for (const line of welcomes) expect(line).toMatch(/^WELCOME [0-9a-f]{20} \d+ \d+$/);
    const third = await LineSocket.connect(perAddress.port, '127.0.0.2');
    expect(await waitFor(() => third.lines[0], { timeoutMs: 5_000, what: 'the refusal' })).toMatch(/^ERR too_many_connections /);
    await third.closed;

    for (const { client } of local) await answers(client);
    await Promise.all(local.map(({ client }) => client.bye()));
    for (const other of others) other.socket.destroy();
  });
});

describe('MAX_FRAMES_PER_SECOND', () => {
  it(`a client sending more than ${MAX_FRAMES_PER_SECOND} frames in a second gets ERR rate_limited after the frames within the limit`, async () => {
    const { client } = await WireClient.session(rate.port, 'rate-greedy', 0);
    client.write('PING\n'.repeat(2 * MAX_FRAMES_PER_SECOND));
    const lines: string[] = [];
    for (;;) {
      const line = await client.nextLine(5_000, false);
      lines.push(line);
      if (line !== 'PONG') break;
    }
    expect(lines.at(-1)).toBe(`ERR rate_limited at most ${MAX_FRAMES_PER_SECOND} frames per second`);
    // The HELLO counts if it fell in the same one-second window.
    const pongs = lines.length - 1;
    expect(pongs).toBeGreaterThanOrEqual(MAX_FRAMES_PER_SECOND - 1);
    expect(pongs).toBeLessThanOrEqual(MAX_FRAMES_PER_SECOND);
    await client.closed;
  });

  it(`a client at ${MAX_FRAMES_PER_SECOND * 0.5} frames per second for 2 s is never limited`, async () => {
    const { client } = await WireClient.session(rate.port, 'rate-polite', 0);
    const total = Math.round(MAX_FRAMES_PER_SECOND * 0.5 * 2);
    const sent = new Promise<void>((resolve) => {
      let n = 0;
      const timer = setInterval(
        () => {
          client.send('PING');
          if (++n === total) {
            clearInterval(timer);
            resolve();
          }
        },
        Math.round(1_000 / (MAX_FRAMES_PER_SECOND * 0.5)),
      );
    });
    await sent;
    for (let i = 0; i < total; i += 1) expect(await client.nextLine(3_000, false)).toBe('PONG');
    await client.bye();
  });
});

describe(`MAX_SESSIONS_PER_CLIENT=${MAX_SESSIONS_PER_CLIENT}: the newest session is rejected`, () => {
  const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

  it('a third session of the same clientId, on either edge, gets WELCOME then ERR too_many_sessions and is closed; the first two stay online and no event is written for it', async () => {
    const id = 'many-devices';
    const first = await WireClient.session(sessionsA.port, id);
    const second = await WireClient.session(sessionsB.port, id);
    await waitFor(async () => (await presence(id)).sessions.length === 2, { what: 'two sessions over HTTP' });

    const rejected: string[] = [];
    for (const edge of [sessionsA, sessionsB]) {
      // WELCOME comes first: the limit is checked in Redis, atomically with registering the session.
      const third = await WireClient.session(edge.port, id, 0);
      rejected.push(third.sessionId);
      expect(await rejectedWith(third.client, 'too_many_sessions')).toBe(
        `ERR too_many_sessions at most ${MAX_SESSIONS_PER_CLIENT} sessions per clientId`,
      );
    }

    const now = await presence(id);
    expect(now.online).toBe(true);
    expect(now.sessions.map((s) => s.sessionId).sort()).toEqual([first.sessionId, second.sessionId].sort());
    await answers(first.client);
    await answers(second.client);
    expect(await edgeMetric(sessionsA, 'presence_edge_protocol_errors_total', 'code="too_many_sessions"')).toBe(1);
    expect(await edgeMetric(sessionsB, 'presence_edge_protocol_errors_total', 'code="too_many_sessions"')).toBe(1);

    // Each edge writes in order, so anything written for the rejected sessions precedes these ends.
    await first.client.bye();
    await second.client.bye();
    await waitFor(() => eventsOf(id).length === 2 && eventsOf(id)[1]?.type === 'offline', { what: 'the offline event' });
    expect(eventsOf(id).map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'leave'],
    ]);
    expect(eventsOf(id).some((e) => rejected.includes(e.sessionId))).toBe(false);
  });

  it('once one of the two sessions leaves, a new one is accepted', async () => {
    const id = 'swapping-devices';
    const first = await WireClient.session(sessionsA.port, id);
    const second = await WireClient.session(sessionsB.port, id);
    await waitFor(async () => (await presence(id)).sessions.length === 2, { what: 'two sessions over HTTP' });
    await first.client.bye();
    await waitFor(async () => (await presence(id)).sessions.length === 1, { what: 'one session over HTTP' });

    const third = await WireClient.session(sessionsA.port, id);
    // Registered (so not rejected: the two outcomes exclude each other).
    await waitFor(async () => (await presence(id)).sessions.some((s) => s.sessionId === third.sessionId), {
      what: 'the new session over HTTP',
    });
    await answers(third.client);
    expect(third.client.ended).toBe(false);
    await Promise.all([second.client.bye(), third.client.bye()]);
  });
});

describe(`MAX_SESSIONS_PER_CLIENT=${MAX_SESSIONS_PER_CLIENT} after an edge dies`, () => {
  const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

  it("the dead edge's sessions still count until they expire: a reconnect is rejected until then, and accepted after", async () => {
    const id = 'crashed-devices';
    const lost = await Promise.all([0, 1].map(() => WireClient.session(doomed.port, id)));
    await waitFor(async () => (await presence(id)).sessions.length === 2, { what: 'two sessions over HTTP' });
    // Let a refresh pass, so the deadlines are the steady-state ones (at most SESSION_TTL_MS ahead):
    // the first session's deadline in Redis moves later.
    const deadline = () =>
      redis.zscore(store.keys.shard(store.keys.shardOf(id)).deadlines, sessionMember(lost[0]?.sessionId ?? '', id)).then(Number);
    const firstDeadline = await deadline();
    await waitFor(async () => (await deadline()) > firstDeadline, { what: 'a refresh' });
    await doomed.stop('SIGKILL');
    const killedAt = Date.now();

    // At once: Redis still holds two live sessions, so the newest (this one) is refused.
    const early = await WireClient.session(sessionsA.port, id, 0);
    await rejectedWith(early.client, 'too_many_sessions');
    expect(Date.now() - killedAt).toBeLessThan(Number(FAST_TIMING.SESSION_TTL_MS));

    // Bound: expired within SESSION_TTL_MS + SWEEP_INTERVAL_MS of the last refresh, plus 1 s of slack.
    const bound = Number(FAST_TIMING.SESSION_TTL_MS) + Number(FAST_TIMING.SWEEP_INTERVAL_MS) + 1_000;
    await waitFor(() => eventsOf(id).some((e) => e.type === 'offline'), { timeoutMs: bound, what: 'the expired sessions to be swept' });
    expect(eventsOf(id).find((e) => e.type === 'offline')?.reason).toBe('expired');
    const late = await WireClient.session(sessionsA.port, id);
    await waitFor(async () => (await presence(id)).sessions.some((s) => s.sessionId === late.sessionId), {
      what: 'the new session over HTTP',
    });
    await answers(late.client);
    await late.client.bye();
    for (const { client } of lost) client.destroy();
  });
});

describe(`MAX_STATE_BYTES=${MAX_STATE_BYTES}`, () => {
  it(`PING with a JSON state over ${MAX_STATE_BYTES} bytes gets ERR bad_state; one of exactly ${MAX_STATE_BYTES} bytes is stored`, async () => {
    const fits = `{"k":"${'v'.repeat(MAX_STATE_BYTES - 8)}"}`;
    const over = `{"k":"${'v'.repeat(MAX_STATE_BYTES - 7)}"}`;
    expect(Buffer.byteLength(fits)).toBe(MAX_STATE_BYTES);

    const { client } = await WireClient.session(sessionsA.port, 'state-limit', 0);
    client.send(`PING ${fits}`);
    expect(await client.nextLine(3_000, false)).toBe('PONG');
    await waitFor(async () => JSON.stringify((await presence('state-limit')).sessions[0]?.meta) === fits, { what: 'the state over HTTP' });

    client.send(`PING ${over}`);
    expect(await rejectedWith(client, 'bad_state')).toBe(`ERR bad_state state may be at most ${MAX_STATE_BYTES} bytes of JSON`);
    await waitFor(async () => !(await presence('state-limit')).online, { what: 'the session to end' });
  });
});
