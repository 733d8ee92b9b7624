import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PresenceApiError,
  createHttpClient,
  type EventStream,
  type EventStreamItem,
  type EventStreamRetry,
  type PresenceHttpClient,
} from '@presence/client';
import { freePort } from '../support/free-port.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

// The SDK's HTTP client and its SSE iterator against the real API: typed answers and errors, and an
// event stream that survives an API restart and a server-side drop without losing or repeating.

const TOKEN = 'client-events-test-token-0123456789';
let stack: Stack;
/** A second deployment whose API wants a bearer token. */
let strict: Stack;
let http: PresenceHttpClient;

beforeAll(async () => {
  [stack, strict] = await Promise.all([
    Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1 }),
    Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, env: { API_TOKENS: TOKEN } }),
  ]);
  http = createHttpClient({ baseUrl: stack.apiUrl });
});

afterAll(async () => {
  await Promise.all([stack?.stop(), strict?.stop()]);
});

function edgePort(s: Stack): number {
  const edge = s.edges[0];
  if (edge === undefined) throw new Error('no edge');
  return edge.port;
}

/** Connects then leaves: one online and one offline event per id. */
async function blink(port: number, ids: readonly string[]): Promise<void> {
  const sessions = await Promise.all(ids.map((id) => WireClient.session(port, id, 0)));
  await Promise.all(sessions.map((s) => s.client.bye()));
}

/** Iterates a stream in the background, collecting what it yields. */
function collect(stream: EventStream): { items: EventStreamItem[]; done: Promise<unknown> } {
  const items: EventStreamItem[] = [];
  const done = (async () => {
    for await (const item of stream) items.push(item);
  })().catch((error: unknown) => error);
  return { items, done };
}

describe('the HTTP client', () => {
  it('answers get, query, list (and every page) and stats with the API shapes', async () => {
    const ids = ['http-a', 'http-b', 'http-c', 'http-d', 'http-e'];
    const sessions = await Promise.all(ids.map((id) => WireClient.session(edgePort(stack), id)));
    sessions[0]?.client.send('PING {"mood":"fine"}');
    await waitFor(async () => (await http.query(ids)).every((r) => r.online), { what: 'all five online' });

    const a = await waitFor(
      async () => {
        const p = await http.get('http-a');
        return (p.sessions[0]?.meta ?? null) !== null ? p : false;
      },
      { what: 'the state of http-a' },
    );
    expect(a).toMatchObject({
      clientId: 'http-a',
      online: true,
      sessions: [{ sessionId: sessions[0]?.sessionId, meta: { mood: 'fine' } }],
    });
    expect(await http.query(['http-nobody', 'http-c'])).toEqual([
      { clientId: 'http-nobody', online: false, lastSeenAt: null },
      { clientId: 'http-c', online: true, lastSeenAt: expect.any(Number) },
    ]);

    const first = await http.list({ limit: 2 });
    expect(first.clients).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const pages: string[][] = [];
    for await (const page of http.pages({ limit: 2 })) pages.push(page.clients);
    expect(pages.flat().sort()).toEqual(ids);
    expect(pages[0]).toEqual(first.clients);

    // Node session counts are refreshed every SESSION_REFRESH_MS: wait for them to catch up.
    const stats = await waitFor(
      async () => {
        const s = await http.stats();
        return s.nodes[0]?.sessions === 5 ? s : false;
      },
      { what: 'stats with five sessions' },
    );
    expect(stats).toMatchObject({ onlineClients: 5, sessions: 5, nodes: [{ node: 'edge-0', sessions: 5, alive: true }] });
    await Promise.all(sessions.map((s) => s.client.bye()));
  });

  it('turns failures into typed errors with a code: bad input, unreachable, unauthorized', async () => {
    await expect(http.get('bad{id}')).rejects.toMatchObject({ name: 'PresenceApiError', code: 'bad_client_id', status: 400 });
    await expect(http.list({ cursor: 'x'.repeat(500) })).rejects.toMatchObject({ code: 'bad_request', status: 400 });
    const down = createHttpClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    const error = await down.stats().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceApiError);
    expect(error).toMatchObject({
      code: 'unreachable',
      status: null,
      message: expect.stringMatching(/cannot reach the API at .* \(ECONNREFUSED\)/),
    });
  });

  it('maps 401 to unauthorized, and sends the bearer token when it has one', async (ctx) => {
    const probe = await fetch(`${strict.apiUrl}/v1/stats`);
    if (probe.status !== 401) ctx.skip(); // This API build does not check API_TOKENS.
    await expect(createHttpClient({ baseUrl: strict.apiUrl }).stats()).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
    await expect(createHttpClient({ baseUrl: strict.apiUrl, token: 'wrong-token-0123456789' }).stats()).rejects.toMatchObject({
      code: 'unauthorized',
      message: expect.stringContaining('the token was refused'),
    });
    const withToken = createHttpClient({ baseUrl: strict.apiUrl, token: TOKEN });
    expect(await withToken.stats()).toMatchObject({ onlineClients: expect.any(Number) });
    const events = withToken.events();
    const it = events[Symbol.asyncIterator]();
    const unauthorized = createHttpClient({ baseUrl: strict.apiUrl }).events();
    await expect(unauthorized[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'unauthorized' });
    events.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });
});

describe('the event stream iterator', () => {
  it('resumes across an API restart: every event once, in order, including those written while the API was down', async () => {
    const retries: EventStreamRetry[] = [];
    let opens = 0;
    const stream = http.events({ onOpen: () => (opens += 1), onRetry: (info) => void retries.push(info) });
    const { items, done } = collect(stream);
    await waitFor(() => opens === 1 && stream.lastEventId !== null, { what: 'the stream to open' });

    const before = ['sse-1', 'sse-2', 'sse-3'];
    const during = ['sse-4', 'sse-5', 'sse-6', 'sse-7'];
    const after = ['sse-8', 'sse-9'];
    await blink(edgePort(stack), before);
    await waitFor(() => items.length === 6, { what: 'the events before the restart' });

    const api = stack.api;
    if (api === null) throw new Error('no api');
    expect(await api.stop('SIGTERM')).toBe(0);
    await blink(edgePort(stack), during);
    await stack.startApi();
    await blink(edgePort(stack), after);
    const all = [...before, ...during, ...after];
    await waitFor(() => items.length >= all.length * 2, { timeoutMs: 15_000, what: `${all.length * 2} events` });
    stream.close();
    await done;

    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(opens).toBeGreaterThanOrEqual(2);
    const ids = items.map((i) => i.event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(items).toHaveLength(all.length * 2);
    for (const clientId of all) {
      expect(items.filter((i) => i.event.clientId === clientId).map((i) => i.event.type)).toEqual(['online', 'offline']);
    }
    // Each item's id is a cursor that resumes right after it: from the 6th, exactly the rest follow.
    const sixth = items[5];
    if (sixth === undefined) throw new Error('no sixth event');
    const replay = http.events({ after: sixth.id });
    const rest: string[] = [];
    for await (const item of replay) {
      rest.push(item.event.id);
      if (rest.length === items.length - 6) break;
    }
    expect(rest.sort()).toEqual(ids.slice(6).sort());
  });
});
