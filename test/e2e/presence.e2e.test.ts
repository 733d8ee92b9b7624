import { describe, expect, it } from 'vitest';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';
import { sentinelOnline, silentSessionTimedOut } from '../support/sentinel.js';
import { WireClient } from '../support/wire-client.js';
import { useStack, useEvents, useTestStore } from '../support/use-stack.js';

interface Event {
  id: string;
  type: 'online' | 'offline';
  clientId: string;
  sessionId: string;
  node: string;
  reason: string | null;
  at: number;
}

const stack = useStack({ edges: 2, sweepers: 2 });
const live = useEvents(stack);
const { store } = useTestStore(stack);
const timeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);

const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

async function presence(
  clientId: string,
): Promise<{ online: boolean; sessions: { sessionId: string; node: string; meta: unknown }[]; lastSeenAt: number | null }> {
  const res = await fetch(`${stack.apiUrl}/v1/presence/${clientId}`);
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

function edgePort(index: number): number {
  const edge = stack.edges[index];
  if (edge === undefined) throw new Error(`no edge ${index}`);
  return edge.port;
}

describe('online and offline, each with its reason', () => {
  it('leave: BYE ends the session and the client goes offline with reason leave', async () => {
    const { client, sessionId } = await WireClient.session(edgePort(0), 'e2e-leave');
    await waitFor(async () => (await presence('e2e-leave')).online, { what: 'online over HTTP' });
    const online = await presence('e2e-leave');
    expect(online.sessions).toMatchObject([{ sessionId, node: 'edge-0' }]);
    await client.bye();
    await waitFor(() => eventsOf('e2e-leave').length === 2, { what: 'online and offline events' });
    expect(eventsOf('e2e-leave').map((e) => [e.type, e.reason, e.sessionId, e.node])).toEqual([
      ['online', null, sessionId, 'edge-0'],
      ['offline', 'leave', sessionId, 'edge-0'],
    ]);
    const offline = await presence('e2e-leave');
    expect(offline.online).toBe(false);
    expect(offline.sessions).toEqual([]);
    expect(offline.lastSeenAt).toBe(eventsOf('e2e-leave')[1]?.at);
  });

  it('closed: a socket dropped without BYE makes the client offline with reason closed', async () => {
    const { client } = await WireClient.session(edgePort(1), 'e2e-closed');
    await waitFor(() => eventsOf('e2e-closed').length === 1, { what: 'online event' });
    client.destroy();
    await waitFor(() => eventsOf('e2e-closed').length === 2, { what: 'offline event' });
    expect(eventsOf('e2e-closed')[1]).toMatchObject({ type: 'offline', reason: 'closed', node: 'edge-1' });
  });

  it('half-closed: a client that sends its frames and closes its side still reads every answer, then is offline as closed', async () => {
    const client = await WireClient.connect(edgePort(0));
    client.write('HELLO e2e-halfclosed\nPING\nPING\n');
    client.socket.end();
    await client.closed;
    const answers = [await client.nextLine(1_000, false), await client.nextLine(1_000, false), await client.nextLine(1_000, false)];
    expect(answers).toEqual([expect.stringMatching(/^WELCOME \S+ \d+ \d+$/), 'PONG', 'PONG']);
    await waitFor(() => eventsOf('e2e-halfclosed').length === 2, { what: 'online and offline events' });
    expect(eventsOf('e2e-halfclosed').map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'closed'],
    ]);
  });

  it('timeout: a silent session is closed with BYE timeout and reported offline with reason timeout', async () => {
    const { client } = await WireClient.session(edgePort(0), 'e2e-silent', 0);
    const started = Date.now();
    expect(await client.nextLine(timeoutMs + 3_000)).toBe('BYE timeout');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
    await client.closed;
    await waitFor(() => eventsOf('e2e-silent').length === 2, { what: 'offline event' });
    expect(eventsOf('e2e-silent')[1]).toMatchObject({ type: 'offline', reason: 'timeout' });
  });

  it('traffic of any kind counts as liveness: empty frames keep a session alive', async () => {
    const { client } = await WireClient.session(edgePort(1), 'e2e-traffic', 0);
    const keep = setInterval(() => client.write('\n'), 200);
    // Two silent sessions on the same edge, one after the other, are each timed out meanwhile.
    for (const n of [1, 2]) await silentSessionTimedOut(edgePort(1), `e2e-silent-traffic-${n}`, timeoutMs);
    clearInterval(keep);
    expect(client.ended).toBe(false);
    expect((await presence('e2e-traffic')).online).toBe(true);
    await client.bye();
  });
});

describe('multi-session clients', () => {
  it('is online while any session lives: one online and one offline event in all', async () => {
    const a = await WireClient.session(edgePort(0), 'e2e-multi');
    // WELCOME comes before the edge's batched write: b, on another edge, could otherwise be first in Redis.
    await waitFor(async () => (await presence('e2e-multi')).sessions.length === 1, { what: 'the first session in Redis' });
    const b = await WireClient.session(edgePort(1), 'e2e-multi');
    await waitFor(async () => (await presence('e2e-multi')).sessions.length === 2, { what: 'two sessions' });
    expect((await presence('e2e-multi')).sessions.map((s) => s.node).sort()).toEqual(['edge-0', 'edge-1']);
    await a.client.bye();
    await waitFor(async () => (await presence('e2e-multi')).sessions.length === 1, { what: 'one session left' });
    expect((await presence('e2e-multi')).online).toBe(true);
    b.client.destroy();
    await waitFor(() => eventsOf('e2e-multi').length === 2, { what: 'offline event' });
    expect(eventsOf('e2e-multi').map((e) => [e.type, e.sessionId])).toEqual([
      ['online', a.sessionId],
      ['offline', b.sessionId],
    ]);
  });
});

describe('HTTP queries', () => {
  it('lists every edge node in stats, also one without sessions', async () => {
    await waitFor(
      async () => {
        const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as { nodes: { node: string; alive: boolean }[] };
        return (
          stats.nodes
            .filter((n) => n.alive)
            .map((n) => n.node)
            .sort()
            .join(',') === 'edge-0,edge-1'
        );
      },
      { what: 'both edge nodes in /v1/stats' },
    );
  });

  it('shows the state of the latest PING as session meta', async () => {
    const { client } = await WireClient.session(edgePort(0), 'e2e-state');
    client.send('PING {"status":"busy","game":{"level":3}}');
    // `!= null`: before the session reaches Redis there is no session at all (undefined), not a null meta.
    await waitFor(async () => (await presence('e2e-state')).sessions[0]?.meta != null, { what: 'meta to appear' });
    expect((await presence('e2e-state')).sessions[0]?.meta).toEqual({ status: 'busy', game: { level: 3 } });
    client.send('PING {"status":"away"}');
    await waitFor(async () => JSON.stringify((await presence('e2e-state')).sessions[0]?.meta) === '{"status":"away"}', {
      what: 'meta to be replaced',
    });
    await client.bye();
  });

  it('answers a bulk query in request order, pages through online clients and counts them', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `e2e-bulk-${String(i).padStart(2, '0')}`);
    const sessions = await Promise.all(ids.map((id, i) => WireClient.session(edgePort(i % 2), id)));
    await waitFor(
      async () => {
        const res = await fetch(`${stack.apiUrl}/v1/presence/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ clientIds: ['e2e-nobody', ...ids] }),
        });
        const body = (await res.json()) as { results: { clientId: string; online: boolean }[] };
        return body.results.filter((r) => r.online).length === 30 ? body : false;
      },
      { what: 'all 30 online in a bulk query' },
    ).then((body) => {
      expect(body.results.map((r) => r.clientId)).toEqual(['e2e-nobody', ...ids]);
      expect(body.results[0]).toEqual({ clientId: 'e2e-nobody', online: false, lastSeenAt: null });
    });

    const listed: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page += 1) {
      const url: string = `${stack.apiUrl}/v1/presence?limit=7${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const body = (await (await fetch(url)).json()) as { clients: string[]; nextCursor: string | null };
      listed.push(...body.clients);
      cursor = body.nextCursor;
      if (cursor === null) break;
    }
    const bulk = listed.filter((id) => id.startsWith('e2e-bulk-'));
    expect(bulk.sort()).toEqual(ids);
    expect(new Set(listed).size).toBe(listed.length);

    const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as {
      onlineClients: number;
      sessions: number;
      nodes: { node: string; sessions: number }[];
    };
    expect(stats.onlineClients).toBeGreaterThanOrEqual(30);
    expect(stats.sessions).toBeGreaterThanOrEqual(30);
    expect(stats.nodes.map((n) => n.node).sort()).toEqual(['edge-0', 'edge-1']);
    await Promise.all(sessions.map((s) => s.client.bye()));
  });

  it('rejects bad input with a JSON 4xx', async () => {
    const post = (body: string) =>
      fetch(`${stack.apiUrl}/v1/presence/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const cases: [Promise<Response>, number, string][] = [
      [fetch(`${stack.apiUrl}/v1/presence/bad%7Bid%7D`), 400, 'bad_client_id'],
      [fetch(`${stack.apiUrl}/v1/presence/${'x'.repeat(129)}`), 400, 'bad_client_id'],
      [post('{"clientIds":'), 400, 'bad_json'],
      [post('{"clientIds":[]}'), 400, 'bad_request'],
      [post(JSON.stringify({ clientIds: Array.from({ length: 1001 }, (_, i) => `c${i}`) })), 400, 'bad_request'],
      [post('{"clientIds":["ok","not ok"]}'), 400, 'bad_request'],
      [post(JSON.stringify({ clientIds: ['x'.repeat(300_000)] })), 413, 'body_too_large'],
      [fetch(`${stack.apiUrl}/v1/presence?limit=0`), 400, 'bad_request'],
      [fetch(`${stack.apiUrl}/v1/presence?cursor=nonsense`), 400, 'bad_cursor'],
      [fetch(`${stack.apiUrl}/v1/events?types=sideways`), 400, 'bad_request'],
      [fetch(`${stack.apiUrl}/v1/events`, { headers: { 'last-event-id': 'v9.bogus' } }), 400, 'bad_cursor'],
      [fetch(`${stack.apiUrl}/v1/nothing-here`), 404, 'not_found'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      expect({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code }).toEqual({ status, code });
    }
  });

  it('says what to send instead: a JSON content type, a client id, POST for the batch lookup', async () => {
    const answer = async (pending: Promise<Response>) => {
      const res = await pending;
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      return { status: res.status, code: error.code, message: error.message, allow: res.headers.get('allow') };
    };
    // What `curl -d '…'` sends without -H: a form.
    const form = await answer(
      fetch(`${stack.apiUrl}/v1/presence/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: '{"clientIds":["a"]}',
      }),
    );
    expect(form).toMatchObject({ status: 415, code: 'unsupported_media_type' });
    expect(form.message).toContain('content-type: application/json');
    const empty = await answer(fetch(`${stack.apiUrl}/v1/presence/query`, { method: 'POST' }));
    expect(empty).toMatchObject({ status: 400, code: 'bad_request' });
    expect(empty.message).toContain('{"clientIds": ["alice", "bob"]}');
    const noId = await answer(fetch(`${stack.apiUrl}/v1/presence/`));
    expect(noId).toMatchObject({ status: 400, code: 'bad_client_id' });
    expect(noId.message).toContain('the client id is empty');
    expect(await answer(fetch(`${stack.apiUrl}/v1/presence/query`))).toMatchObject({
      status: 405,
      code: 'method_not_allowed',
      allow: 'POST',
    });
  });
});

describe('SSE', () => {
  it('resumes with Last-Event-ID: every missed event once, none repeated', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `e2e-sse-${i}`);
    const subscriber = await SseClient.open(`${stack.apiUrl}/v1/events`);
    await waitFor(() => subscriber.lastEventId !== null, { what: 'stream open' });

    const first = await Promise.all(ids.slice(0, 6).map((id, i) => WireClient.session(edgePort(i % 2), id)));
    await waitFor(() => subscriber.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-')).length === 6, {
      what: 'six online events',
    });
    const resumeFrom = subscriber.lastEventId as string;
    subscriber.close();

    // While nobody listens: six more online, then all twelve offline.
    const second = await Promise.all(ids.slice(6).map((id, i) => WireClient.session(edgePort(i % 2), id)));
    await Promise.all([...first, ...second].map((s) => s.client.bye()));
    await waitFor(() => live.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-')).length === 24, {
      what: 'the reference subscriber to see all 24 events',
    });

    const resumed = await SseClient.open(`${stack.apiUrl}/v1/events`, resumeFrom);
    await waitFor(() => resumed.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-')).length >= 18, {
      what: 'the 18 missed events',
    });
    // A sentinel event written after them: once resumed has it, a repeat would have come before it.
    const sentinel = await sentinelOnline(store);
    await waitFor(() => resumed.events<Event>().some((e) => e.clientId === sentinel), { what: 'the sentinel event' });
    const seenBefore = subscriber.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-'));
    const seenAfter = resumed.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-'));
    const reference = live.events<Event>().filter((e) => e.clientId.startsWith('e2e-sse-'));
    expect(seenAfter.length).toBe(18);
    expect([...seenBefore, ...seenAfter].map((e) => e.id).sort()).toEqual(reference.map((e) => e.id).sort());
    resumed.close();
  });

  it('filters by type and replays everything retained with after=0', async () => {
    const { client } = await WireClient.session(edgePort(0), 'e2e-filter');
    await client.bye();
    await waitFor(() => eventsOf('e2e-filter').length === 2, { what: 'both events' });
    const replay = await SseClient.open(`${stack.apiUrl}/v1/events?after=0&types=offline`);
    await waitFor(() => replay.events<Event>().some((e) => e.clientId === 'e2e-filter'), { what: 'the replayed offline event' });
    expect(replay.events<Event>().every((e) => e.type === 'offline')).toBe(true);
    expect(replay.events<Event>().filter((e) => e.clientId === 'e2e-filter')).toEqual([eventsOf('e2e-filter')[1]]);
    replay.close();
  });
});

describe('bad frames', () => {
  async function expectError(send: (client: WireClient) => void, code: string): Promise<void> {
    const client = await WireClient.connect(edgePort(0));
    send(client);
    let line = await client.nextLine();
    if (line.startsWith('WELCOME ')) line = await client.nextLine();
    expect(line).toMatch(new RegExp(`^ERR ${code} \\S`));
    await client.closed;
  }

  it('answers each bad frame with its ERR and closes, while other clients on the node are unaffected', async () => {
    const bystander = await WireClient.session(edgePort(0), 'e2e-bystander');
    await expectError((c) => c.write(`HELLO ${'a'.repeat(5000)}\n`), 'frame_too_large');
    await expectError((c) => c.write(Buffer.alloc(5000, 0x41)), 'frame_too_large');
    await expectError((c) => c.send('PING'), 'hello_required');
    await expectError((c) => c.send('HELLO not{valid}'), 'bad_client_id');
    await expectError((c) => c.write(Buffer.from([0xc3, 0x28, 0x0a])), 'bad_frame');
    await expectError((c) => c.send('GARBAGE'), 'bad_frame');
    await expectError((c) => c.write('HELLO e2e-state-bad\nPING [1,2]\n'), 'bad_state');
    await expectError(() => {}, 'hello_timeout');

    bystander.client.stopHeartbeat();
    bystander.client.send('PING');
    expect(await bystander.client.nextLine(2_000, false)).toBe('PONG');
    expect((await presence('e2e-bystander')).online).toBe(true);
    expect(eventsOf('e2e-bystander').map((e) => e.type)).toEqual(['online']);
    await bystander.client.bye();
  });
});
