import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING, Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { fetchFresh } from '../support/fetch-fresh.js';

/**
 * Fuzzing connections: a warm-up round of WARMUP, then RUN more, at most CONCURRENCY at once. The
 * edge's heap grows to its working size over the first ~2000 such connections (measured: RSS
 * +15-20 MiB between the 1000th and the 2000th, then within a few MiB over 3000 more), so memory
 * is compared from the end of the warm-up.
 */
const WARMUP = 2_000;
const RUN = scaled(5_000, 1_500);
const TOTAL = WARMUP + RUN;
const CONCURRENCY = 100;
const GOOD_CLIENTS = 20;
const heartbeatMs = Number(FAST_TIMING.HEARTBEAT_INTERVAL_MS);
const heartbeatTimeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);
const MiB = 1024 * 1024;
/** Bound on the edge's RSS growth from after the warm-up round to after the whole run. */
const RSS_GROWTH_BOUND = 30 * MiB;
/** Replays the same connections: FUZZ_SEED=<seed from the figure> npx vitest run … */
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);
const REPLAY = `replay with FUZZ_SEED=${SEED}`;

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
}

let stack: Stack;
let edge: EdgeProcess;
let offline: SseClient;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1 });
  edge = stack.edges[0] as EdgeProcess;
  offline = await SseClient.open(`${stack.apiUrl}/v1/events?types=offline`);
  await waitFor(() => offline.lastEventId !== null, { what: 'the SSE stream to open' });
});

afterAll(async () => {
  offline?.close();
  await stack?.stop();
});

async function edgeMetrics(): Promise<string> {
  return (await fetchFresh(`http://127.0.0.1:${edge.env.EDGE_METRICS_PORT}/metrics`)).text();
}

/** Every sample of a metric as `labels → value` (labels without the service label). */
function samples(metrics: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const labels = (match[2] ?? '')
      .split(',')
      .filter((l) => l !== '' && !l.startsWith('service='))
      .join(',');
    found.set(labels, Number(match[3]));
  }
  return found;
}

const one = (metrics: string, name: string) => [...samples(metrics, name).values()][0] ?? 0;

// ---- what a fuzzing connection does ------------------------------------------------------------

type Step = { kind: 'write'; bytes: Buffer } | { kind: 'pause'; ms: number };
interface Script {
  steps: Step[];
  /** How it leaves: destroy (no FIN handshake wait), end (FIN), or wait for the server to close it. */
  end: 'destroy' | 'end' | 'wait';
}

const b = (text: string) => Buffer.from(text, 'utf8');
const fuzzId = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,20}$/).map((s) => `fz-${s}`);
const payload: fc.Arbitrary<Buffer> = fc.oneof(
  // Garbage bytes, with or without a newline.
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
  // Oversized lines (frame_too_large), terminated or not.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 4_096, max: 12_000 }), fc.boolean()).map(([n, nl]) => b(`${'A'.repeat(n)}${nl ? '\n' : ''}`)),
  },
  // Invalid UTF-8 inside otherwise plausible frames, and NULs.
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      Buffer.from([0x48, 0x45, 0x4c, 0x4c, 0x4f, 0x20, 0xff, 0x0a]),
      Buffer.concat([b('PING {"a":"'), Buffer.from([0xc3]), b('"}\n')]),
      Buffer.from([0xed, 0xa0, 0x80, 0x0a]),
      b('HELLO a\0b\n'),
      b('\0\0\0\n'),
      b('\uFEFFHELLO bom\n'),
    ),
  },
  // A valid HELLO (sometimes with a token, ignored without auth), then anything.
  {
    weight: 4,
    arbitrary: fc
      .tuple(fuzzId, fc.option(fc.stringMatching(/^[\x21-\x7e]{1,64}$/)))
      .map(([id, token]) => b(`HELLO ${id}${token === null ? '' : ` ${token}`}\n`)),
  },
  // Frames, valid and not.
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'PING\n',
          'PING\r\n',
          '\n',
          'BYE\n',
          'BYE now\n',
          'PING [1]\n',
          'PING {\n',
          'HELLO again\n',
          'PONG\n',
          'ping\n',
          'HELLO\n',
          'HELLO a b c\n',
        ),
        fc
          .dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
          .map((state) => `PING ${JSON.stringify(state)}\n`),
        fc.integer({ min: 1_020, max: 1_100 }).map((n) => `PING {"s":"${'x'.repeat(n - 8)}"}\n`),
      )
      .map(b),
  },
  // Half-finished frames.
  { weight: 2, arbitrary: fc.constantFrom('PIN', 'HELLO fz-half', 'PING {"a":', 'HEL', '\r').map(b) },
  // A burst past MAX_FRAMES_PER_SECOND (rate_limited).
  { weight: 1, arbitrary: fc.integer({ min: 51, max: 200 }).map((n) => b('PING\n'.repeat(n))) },
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: payload.map((bytes): Step => ({ kind: 'write', bytes })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }).map((ms): Step => ({ kind: 'pause', ms })) },
);
/** Half the connections start with a valid HELLO, so that the random frames reach a live session. */
const script: fc.Arbitrary<Script> = fc.record({
  steps: fc
    .tuple(fc.option(fuzzId, { freq: 2 }), fc.array(step, { minLength: 1, maxLength: 8 }))
    .map(([id, steps]) => (id === null ? steps : [{ kind: 'write', bytes: b(`HELLO ${id}\n`) } satisfies Step, ...steps])),
  end: fc.constantFrom('destroy', 'destroy', 'end', 'end', 'wait'),
});

interface Tally {
  connections: number;
  bytes: number;
  newlines: number;
  /** ERR codes as the fuzzing clients saw them. */
  errSeen: Map<string, number>;
  refusedConnects: number;
}

/** Runs one fuzzing connection to the end; never throws (the edge may cut it off at any point). */
async function runScript(port: number, s: Script, tally: Tally): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    if (received.length < 10_000) received += chunk;
  });
  socket.on('error', () => {});
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  const connected = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true))),
    closedPromise.then(() => false),
  ]);
  if (!connected) {
    tally.refusedConnects += 1;
    return;
  }
  tally.connections += 1;
  for (const step of s.steps) {
    if (closed) break;
    if (step.kind === 'pause') await new Promise((resolve) => setTimeout(resolve, step.ms));
    else {
      socket.write(step.bytes);
      tally.bytes += step.bytes.length;
      for (const byte of step.bytes) if (byte === 0x0a) tally.newlines += 1;
    }
  }
  if (s.end === 'destroy') socket.destroy();
  else if (s.end === 'end') socket.end();
  // Wait for the server's close (ERR, BYE, hello_timeout), at most until the hello timeout has
  // passed; then give up on it.
  const limit = s.end === 'wait' ? Number(FAST_TIMING.HELLO_TIMEOUT_MS) + 1_000 : 300;
  await Promise.race([closedPromise, new Promise((resolve) => setTimeout(resolve, limit))]);
  socket.destroy();
  for (const match of received.matchAll(/^ERR (\S+)/gm)) {
    const code = match[1] as string;
    tally.errSeen.set(code, (tally.errSeen.get(code) ?? 0) + 1);
  }
}

async function runMany(port: number, scripts: readonly Script[], tally: Tally): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < scripts.length) {
      const s = scripts[next++] as Script;
      await runScript(port, s, tally);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, scripts.length) }, worker));
}

/** A well-behaved client: heartbeats every interval and times each PONG (they come back in order). */
interface GoodClient {
  id: string;
  client: WireClient;
  sentAt: number[];
  latencies: number[];
  other: string[];
  timer: NodeJS.Timeout;
}

async function goodClient(port: number, id: string): Promise<GoodClient> {
  const { client } = await WireClient.session(port, id, 0);
  const good: GoodClient = { id, client, sentAt: [], latencies: [], other: [], timer: setTimeout(() => {}, 0) };
  let pending = '';
  client.socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'PONG') good.latencies.push(Date.now() - (good.sentAt[good.latencies.length] ?? Date.now()));
      else good.other.push(line);
    }
  });
  good.timer = setInterval(() => {
    good.sentAt.push(Date.now());
    client.send('PING');
  }, heartbeatMs);
  return good;
}

describe('a live edge under a fuzzing client', () => {
  it(`survives ${TOTAL} hostile connections (at most ${CONCURRENCY} at once) while ${GOOD_CLIENTS} good clients get every PONG and stay online, with flat memory`, async () => {
    const scripts = fc.sample(script, { numRuns: TOTAL, seed: SEED });
    const goods = await Promise.all(Array.from({ length: GOOD_CLIENTS }, (_, i) => goodClient(edge.port, `steady-${i}`)));
    const before = await edgeMetrics();
    const tally: Tally = { connections: 0, bytes: 0, newlines: 0, errSeen: new Map(), refusedConnects: 0 };
    const started = Date.now();

    await runMany(edge.port, scripts.slice(0, WARMUP), tally);
    await waitFor(async () => one(await edgeMetrics(), 'presence_edge_connections') === GOOD_CLIENTS, {
      timeoutMs: 10_000,
      what: 'the warm-up connections to be gone',
    });
    const warm = await edgeMetrics();
    const rssWarm = one(warm, 'process_resident_memory_bytes');

    await runMany(edge.port, scripts.slice(WARMUP), tally);
    // Connections that linger after an ERR are destroyed by the edge after its 2 s close grace.
    await waitFor(async () => one(await edgeMetrics(), 'presence_edge_connections') === GOOD_CLIENTS, {
      timeoutMs: 10_000,
      what: `every fuzzing connection to be gone (${REPLAY})`,
    });
    const after = await edgeMetrics();
    const rssEnd = one(after, 'process_resident_memory_bytes');
    const elapsedMs = Date.now() - started;

    // The good clients: every PING answered, nothing else received, still connected.
    for (const good of goods) clearInterval(good.timer);
    await waitFor(() => goods.every((g) => g.latencies.length === g.sentAt.length), {
      timeoutMs: 5_000,
      what: `the last PONGs (${REPLAY})`,
    });
    const pings = goods.reduce((n, g) => n + g.sentAt.length, 0);
    const latencies = goods.flatMap((g) => g.latencies).sort((x, y) => x - y);
    for (const good of goods) {
      expect(good.other, `${good.id}; ${REPLAY}`).toEqual([]);
      expect(good.client.ended, `${good.id}; ${REPLAY}`).toBe(false);
    }
    // …and online all along: no offline event for any of them, and online over HTTP now.
    expect(
      offline.events<Event>().filter((e) => e.clientId.startsWith('steady-')),
      REPLAY,
    ).toEqual([]);
    const res = await fetchFresh(`${stack.apiUrl}/v1/presence/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientIds: goods.map((g) => g.id) }),
    });
    const { results } = (await res.json()) as { results: { clientId: string; online: boolean }[] };
    expect(
      results.filter((r) => !r.online),
      REPLAY,
    ).toEqual([]);
    await Promise.all(goods.map((g) => g.client.bye()));

    const errorsBefore = samples(before, 'presence_edge_protocol_errors_total');
    const errorsByCode = [...samples(after, 'presence_edge_protocol_errors_total')]
      .map(([labels, value]) => [/code="([^"]+)"/.exec(labels)?.[1] ?? labels, value - (errorsBefore.get(labels) ?? 0)] as const)
      .filter(([, count]) => count > 0)
      .sort();
    const framesCounted = one(after, 'presence_edge_frames_total') - one(before, 'presence_edge_frames_total');
    const worst = latencies.at(-1) ?? 0;
    recordFigure({
      id: 'edge-fuzz',
      fault:
        'A fuzzing client: garbage bytes, oversized lines, invalid UTF-8, valid HELLO then random frames, half-finished frames, abrupt closes',
      test: `${TOTAL} connections (fast-check seed ${SEED}), at most ${CONCURRENCY} at once, against one edge (default limits, FAST_TIMING) while ${GOOD_CLIENTS} clients heartbeat every ${heartbeatMs} ms; RSS after a warm-up round of ${WARMUP} and after the ${RUN} more`,
      measured: {
        'fuzzing connections': tally.connections,
        'bytes sent (MiB)': +(tally.bytes / MiB).toFixed(1),
        'newline-terminated pieces sent': tally.newlines,
        'frames the edge counted': framesCounted,
        'ERR by code (edge metric)': errorsByCode.map(([code, n]) => `${code}: ${n}`).join(', '),
        'run time (s)': +(elapsedMs / 1000).toFixed(1),
        'good clients PINGs answered': `${latencies.length}/${pings}`,
        'good clients PONG latency p50 / p99 / max (ms)': `${percentile(latencies, 50)} / ${percentile(latencies, 99)} / ${worst}`,
        'good clients disconnected or offline': 0,
        'edge RSS after warm-up (MiB)': +(rssWarm / MiB).toFixed(1),
        'edge RSS after the run (MiB)': +(rssEnd / MiB).toFixed(1),
        'edge heap used after warm-up / after the run (MiB)': `${(one(warm, 'nodejs_heap_size_used_bytes') / MiB).toFixed(1)} / ${(one(after, 'nodejs_heap_size_used_bytes') / MiB).toFixed(1)}`,
      },
    });

    expect(tally.refusedConnects, REPLAY).toBe(0);
    expect(latencies.length, REPLAY).toBe(pings);
    expect(pings).toBeGreaterThan(GOOD_CLIENTS * 4);
    // Bound: a good client never waits anywhere near the heartbeat timeout for its PONG.
    expect(worst, REPLAY).toBeLessThan(heartbeatTimeoutMs / 2);
    // Every code the edge sent is one the protocol documents as an edge-side outcome of bad input.
    for (const [code] of errorsByCode) {
      expect([
        'bad_frame',
        'frame_too_large',
        'hello_required',
        'hello_timeout',
        'bad_client_id',
        'bad_state',
        'rate_limited',
        'too_many_sessions',
      ]).toContain(code);
    }
    expect(errorsByCode.length).toBeGreaterThanOrEqual(5);
    expect(rssEnd - rssWarm, REPLAY).toBeLessThan(RSS_GROWTH_BOUND);
  });
});
