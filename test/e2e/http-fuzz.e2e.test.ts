import { Agent, request, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordFigure, scaled } from '../support/figures.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { recordReply } from '../support/contract-recorder.js';
import { fetchFresh } from '../support/fetch-fresh.js';

/** Requests per fuzz run: full size with FAULTS_FULL=1, reduced in CI. */
const RUNS = scaled(2_000, 300);
const BODY_LIMIT = 256 * 1024;

let stack: Stack;
let port: number;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const online: WireClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 0 });
  port = Number(new URL(stack.apiUrl).port);
  // A few clients online, so that listings, queries and cursors have something to return.
  for (let i = 0; i < 5; i += 1) online.push((await WireClient.session(stack.edges[0]?.port ?? 0, `fuzz-online-${i}`)).client);
  await waitFor(
    async () => ((await (await fetchFresh(`${stack.apiUrl}/v1/stats`)).json()) as { onlineClients: number }).onlineClients === 5,
    {
      what: 'five clients online',
    },
  );
});

afterAll(async () => {
  agent.destroy();
  for (const client of online) client.destroy();
  await stack?.stop();
});

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
  /** An SSE stream: its headers arrived and the request was aborted right after. */
  stream: boolean;
}

/** Sends one request with node:http (no URL normalisation: the path goes out as given). */
/** Whether a /metrics page shows no open SSE subscription, on either stream (client and channel events). */
const noSseSubscribers = (metrics: string): boolean =>
  /^presence_sse_subscribers\{/m.test(metrics) && !/^presence_sse_subscribers\{[^}]*\} [1-9]/m.test(metrics);

function send(req: FuzzRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let replied = false;
    const headers: OutgoingHttpHeaders = { ...req.headers };
    if (req.body !== null) headers['content-length'] = String(req.body.length);
    const outgoing = request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent }, (res) => {
      replied = true;
      const status = res.statusCode ?? 0;
      const contentType = res.headers['content-type'] ?? '';
      if (contentType.startsWith('text/event-stream')) {
        // Never leave a subscription open: abort as soon as the stream has started.
        outgoing.destroy();
        resolve({ status, contentType, body: '', stream: true });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        // The contract test holds every answer against the OpenAPI document.
        recordReply(req.method, `http://127.0.0.1:${port}`, req.path, status, contentType, body);
        resolve({ status, contentType, body, stream: false });
      });
      res.on('error', reject);
    });
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error(`no answer within 10 s to ${req.method} ${req.path}`)));
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer (413) and close before it has read a large body: the answer counts.
      if (!replied) reject(error);
    });
    outgoing.end(req.body ?? undefined);
  });
}

// ---- the inputs -------------------------------------------------------------------------------

const percentBytes = fc
  .uint8Array({ minLength: 1, maxLength: 12 })
  .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''));
const segment = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:@-]{1,20}$/),
  percentBytes,
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map(encodeURIComponent),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '%2F', '%2e%2e', '..', '.', '', 'a b'.replace(' ', '%20'), '%7B0%7D', 'a%7Cb', 'query'),
  // Raw unicode, percent-encoded as a browser would (raw bytes above 0x7e never reach the app:
  // Node's HTTP parser refuses them, see the last test).
  fc
    .string({
      unit: fc
        .integer({ min: 0x80, max: 0x10ffff })
        .filter((c) => c < 0xd800 || c > 0xdfff)
        .map((c) => String.fromCodePoint(c)),
      minLength: 1,
      maxLength: 10,
    })
    .map(encodeURI),
  // Long ids; three of them stay under Node's 16 KiB request-head limit (past it Node answers 431
  // itself, see the last test).
  fc.integer({ min: 129, max: 4_000 }).map((n) => 'a'.repeat(n)),
  fc.constant('a'.repeat(128)),
);
const prefix = fc.constantFrom(
  '/v1/presence/',
  '/v1/presence',
  '/v1/presence/query',
  '/v1/stats',
  '/v1/events',
  '/healthz',
  '/readyz',
  '/metrics',
  '/',
  '/v1/',
  '/v1',
  '//v1/presence',
  '/V1/PRESENCE/',
  '/v1/presence/%2F',
);
const queryValue = fc.oneof(
  fc.constantFrom('-1', '0', '1', '1000', '1001', 'abc', '1e3', '0x10', '', '1.5', 'NaN', 'Infinity', '99999999999999999999', '%00', '%'),
  fc.constantFrom(
    '0',
    '0.',
    '99.YWJj',
    '3.',
    '1.!!!',
    'v1.4....',
    'v1.4.zzzzzzzzzzz...',
    'v1.4.1-1.2-2.3-3.4-4',
    'v1.5.....',
    'v1.4.' + 'a'.repeat(500),
  ),
  fc.constantFrom('online', 'offline', 'online,offline', 'online,', ',', 'ONLINE', 'both', 'online,online,offline'),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map(encodeURIComponent),
  percentBytes,
);
const queryKey = fc.constantFrom('limit', 'cursor', 'types', 'after', 'limit[]', 'types[0]', '__proto__', 'constructor', 'x');
const query = fc.option(
  fc
    .array(fc.tuple(queryKey, queryValue), { minLength: 1, maxLength: 4 })
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`),
  { freq: 1 },
);
const nested = (depth: number, open: string, close: string) => `${open.repeat(depth)}${close.repeat(depth)}`;
const body = fc.option(
  fc.oneof(
    fc.constantFrom(
      '{',
      '{"clientIds":',
      'null',
      '[]',
      '""',
      '{"clientIds":[]}',
      '{"clientIds":1}',
      '{"clientIds":"alice"}',
      '{"clientIds":[1,2]}',
      '{"clientIds":["bad id"]}',
      '{"clientIds":[null]}',
      '{"__proto__":{"clientIds":["alice"]}}',
      '{"clientIds":["alice"],"clientIds":["bob"]}',
      '\uFEFF{"clientIds":["alice"]}',
      'clientIds=alice',
      '{"clientIds":["alice"]}garbage',
    ),
    fc
      .array(fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/), { minLength: 1, maxLength: 50 })
      .map((ids) => JSON.stringify({ clientIds: ids })),
    fc.integer({ min: 1_001, max: 3_000 }).map((n) => JSON.stringify({ clientIds: Array.from({ length: n }, (_, i) => `c${i}`) })),
    fc.integer({ min: 10, max: 50_000 }).map((depth) => `{"clientIds":${nested(depth, '[', ']')}}`),
    fc.integer({ min: 10, max: 20_000 }).map((depth) => nested(depth, '{"a":', '}').replace(/\{"a":\}/, '{"a":1}')),
    fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? 'null'),
    fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT + 100_000 }).map((n) => `{"clientIds":["${'a'.repeat(n)}"]}`),
    // Raw bytes, invalid UTF-8 included.
    fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  ),
  { freq: 2 },
);
const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/*',
    'application/merge-patch+json',
    'json',
  ),
  { freq: 4 },
);
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const extraHeaders = fc.record(
  {
    'last-event-id': fc.oneof(headerValue, fc.constantFrom('0', 'v1.4....', 'v1.4.1.2.3.4', 'v1.4.zz-zz.0.0.0')),
    'content-encoding': fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'bogus', 'gzip, gzip'),
    accept: fc.constantFrom('text/event-stream', 'application/json', '*/*', 'text/html'),
    authorization: fc.constantFrom('Bearer x', 'Basic Og==', 'Bearer'),
  },
  { requiredKeys: [] },
);

/**
 * Larger bodies on /v1/events are left out of the fuzz run: the stream's handler never reads them,
 * so the API does not notice the client leaving (known bug, reported; see the test at the end).
 */
const UNREAD_SSE_BODY_MAX = 16 * 1024;
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH');
/** Mostly the right method on a real route, so that the garbage reaches the handlers; sometimes not. */
const routeMethod = (right: string) => fc.oneof({ weight: 4, arbitrary: fc.constant(right) }, { weight: 1, arbitrary: method });
const target = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(routeMethod('GET'), segment).map(([m, id]) => ({ method: m, path: `/v1/presence/${id}` })) },
  { weight: 4, arbitrary: fc.tuple(routeMethod('POST'), query).map(([m, q]) => ({ method: m, path: `/v1/presence/query${q ?? ''}` })) },
  { weight: 3, arbitrary: fc.tuple(routeMethod('GET'), query).map(([m, q]) => ({ method: m, path: `/v1/presence${q ?? ''}` })) },
  { weight: 3, arbitrary: fc.tuple(routeMethod('GET'), query).map(([m, q]) => ({ method: m, path: `/v1/events${q ?? ''}` })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(routeMethod('GET'), fc.constantFrom('/v1/stats', '/healthz', '/readyz', '/metrics'), query)
      .map(([m, p, q]) => ({ method: m, path: `${p}${q ?? ''}` })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(method, prefix, fc.array(segment, { maxLength: 3 }), query)
      .map(([m, p, segments, q]) => ({ method: m, path: `${p}${segments.join('/')}${q ?? ''}` })),
  },
);

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.record({ target, body, contentType, headers: extraHeaders }).map((r) => ({
  method: r.target.method,
  path: r.target.path,
  headers: { ...r.headers, ...(r.contentType === null ? {} : { 'content-type': r.contentType }) },
  body: r.body === null || (r.target.path.startsWith('/v1/events') && r.body.length > UNREAD_SSE_BODY_MAX) ? null : Buffer.from(r.body),
}));

describe('HTTP API under malformed requests', () => {
  it(`answers ${RUNS} random malformed requests with < 500, and with a JSON error.code whenever >= 400`, async () => {
    const histogram: Record<string, number> = {};
    const codes: Record<string, number> = {};
    let sent = 0;
    let streams = 0;
    const started = Date.now();
    await fc.assert(
      fc.asyncProperty(fuzzRequest, async (req) => {
        const reply = await send(req);
        sent += 1;
        histogram[reply.status] = (histogram[reply.status] ?? 0) + 1;
        const what = `${req.method} ${req.path.slice(0, 200)} -> ${reply.status} ${reply.contentType} ${reply.body.slice(0, 200)}`;
        expect(reply.status, what).toBeLessThan(500);
        expect(reply.status).toBeGreaterThanOrEqual(200);
        if (reply.stream) {
          streams += 1;
          expect(reply.status).toBe(200);
          return;
        }
        if (reply.status >= 400) {
          expect(reply.contentType, what).toMatch(/^application\/json/);
          const parsed = JSON.parse(reply.body) as { error?: { code?: unknown; message?: unknown } };
          expect(typeof parsed.error?.code).toBe('string');
          expect(typeof parsed.error?.message).toBe('string');
          codes[String(parsed.error?.code)] = (codes[String(parsed.error?.code)] ?? 0) + 1;
        } else if (!req.path.startsWith('/metrics')) {
          // Every answer but the Prometheus text is JSON.
          expect(reply.contentType).toMatch(/^application\/json/);
          JSON.parse(reply.body);
        }
      }),
      { numRuns: RUNS },
    );

    // Still healthy, and still right.
    expect(stack.api?.running).toBe(true);
    expect((await fetchFresh(`${stack.apiUrl}/healthz`)).status).toBe(200);
    expect((await fetchFresh(`${stack.apiUrl}/readyz`)).status).toBe(200);
    const res = await fetchFresh(`${stack.apiUrl}/v1/presence/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"clientIds":["fuzz-online-0","nobody"]}',
    });
    expect(await res.json()).toMatchObject({
      results: [
        { clientId: 'fuzz-online-0', online: true },
        { clientId: 'nobody', online: false },
      ],
    });
    // No request failed as a bug (the API logs those as "request failed").
    expect(stack.api?.log() ?? '').not.toContain('request failed');
    // Every SSE stream we aborted was let go.
    await waitFor(async () => noSseSubscribers(await (await fetchFresh(`${stack.apiUrl}/metrics`)).text()), {
      timeoutMs: 5_000,
      what: 'no SSE subscriber left',
    });

    const fiveHundreds = Object.entries(histogram)
      .filter(([status]) => Number(status) >= 500)
      .reduce((n, [, count]) => n + count, 0);
    recordFigure({
      id: 'http-fuzz',
      fault: 'Malformed HTTP requests: random methods, paths, query strings, headers and bodies',
      test: `fast-check: ${RUNS} requests built from the real routes plus percent-encoded garbage, long ids, raw bytes, bad query values and cursors, invalid/huge/deep JSON bodies, wrong content types and encodings; SSE streams aborted after their headers`,
      measured: {
        'requests sent': sent,
        'status histogram': Object.entries(histogram)
          .sort()
          .map(([status, count]) => `${status}: ${count}`)
          .join(', '),
        'error codes': Object.entries(codes)
          .sort()
          .map(([code, count]) => `${code}: ${count}`)
          .join(', '),
        'SSE streams opened and aborted': streams,
        '5xx responses': fiveHundreds,
        'duration (ms)': Date.now() - started,
      },
    });
    expect(fiveHundreds).toBe(0);
  });

  it('malformed HTTP itself (bad request line, raw non-ASCII bytes in the path, broken headers, oversized head) is refused by the HTTP parser and leaves the API healthy', async () => {
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET /v1/presence/caf\xe9 HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /v1/presence/a\x7fb HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /v1/stats HTTP/9.9\r\nhost: x\r\n\r\n',
      'GET /v1/stats HTTP/1.1\r\nno-colon-here\r\n\r\n',
      'GET /v1/stats HTTP/1.1\r\nhost: x\r\nbad\0header: 1\r\n\r\n',
      'POST /v1/presence/query HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'POST /v1/presence/query HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n{}{}{}',
      `GET /v1/presence/${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
      `GET /v1/stats HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`,
    ];
    for (const text of raw) {
      const answer = await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          received += chunk;
        });
        socket.on('error', () => resolve(received));
        socket.on('close', () => resolve(received));
        socket.setTimeout(5_000, () => socket.destroy());
        socket.write(Buffer.from(text, 'latin1'));
      });
      // Node's parser answers these itself (no JSON: the request never reached the app), or closes.
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      expect([undefined, '400', '413', '431', '505'], JSON.stringify(answer.slice(0, 100))).toContain(status);
    }
    expect((await fetchFresh(`${stack.apiUrl}/healthz`)).status).toBe(200);
    expect((await fetchFresh(`${stack.apiUrl}/v1/stats`)).status).toBe(200);
  });

  // A request body on GET /v1/events is read and ignored: left unread, it would stop Node reading
  // the socket, and a subscriber that leaves would go unnoticed until keepalive writes failed.
  it('lets an SSE subscriber go within 2 s of it leaving, even when its request carried a large unread body', async () => {
    const gone = await new Promise<number>((resolve, reject) => {
      const outgoing = request(
        {
          host: '127.0.0.1',
          port,
          method: 'GET',
          path: '/v1/events',
          headers: { 'content-type': 'text/plain', 'content-length': String(300_000) },
        },
        (res) => {
          expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
          outgoing.destroy();
          resolve(Date.now());
        },
      );
      outgoing.on('error', () => {});
      outgoing.setTimeout(5_000, () => reject(new Error('no SSE headers')));
      outgoing.end(Buffer.alloc(300_000, 0x61));
    });
    await waitFor(async () => noSseSubscribers(await (await fetchFresh(`${stack.apiUrl}/metrics`)).text()), {
      timeoutMs: 2_000,
      what: `the subscriber to be let go (${Date.now() - gone} ms so far)`,
    });
  });
});
