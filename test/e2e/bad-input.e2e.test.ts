import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordFigure } from '../support/figures.js';
import { FAST_TIMING, Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { fetchFresh } from '../support/fetch-fresh.js';

const helloTimeoutMs = Number(FAST_TIMING.HELLO_TIMEOUT_MS);
const heartbeatTimeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);
/** The edge scans for silent connections every min(hello, heartbeat timeout) / 20 ms, at most 100. */
const scanMs = Math.min(100, Math.floor(Math.min(helloTimeoutMs, heartbeatTimeoutMs) / 20));
/** Scheduling on a loaded two-core machine (other test files run beside this one). */
const slackMs = 450;
/** A trickling client sends one byte this often. */
const trickleMs = 200;
/** The edge drops a client with more than this many bytes unsent (docs/protocol.md). */
const maxUnsentBytes = 64 * 1024;
const MiB = 1024 * 1024;

let stack: Stack;
let plain: EdgeProcess;
let fast: EdgeProcess;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 0, api: false });
  [plain, fast] = await Promise.all([
    stack.addEdge(),
    // A high frame rate limit, so that only backpressure can stop a flooding client.
    stack.addEdge({ MAX_FRAMES_PER_SECOND: '1000000' }),
  ]);
});

afterAll(async () => {
  await stack?.stop();
});

async function metricsOf(edge: EdgeProcess): Promise<string> {
  const res = await fetchFresh(`http://127.0.0.1:${edge.env.EDGE_METRICS_PORT}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample (`name{labels…} value`) whose labels include `labels`, or 0 if absent. */
function sample(metrics: string, name: string, labels = ''): number {
  for (const line of metrics.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name || !(match[2] ?? '').includes(labels)) continue;
    return Number(match[3]);
  }
  return 0;
}

/** Sends `bytes` (over and over) one byte every `trickleMs` until the connection closes. */
function trickle(client: WireClient, bytes: string): void {
  let next = 0;
  const timer = setInterval(() => {
    if (client.ended) return;
    client.write(bytes.charAt(next % bytes.length));
    next += 1;
  }, trickleMs);
  void client.closed.then(() => clearInterval(timer));
}

interface Closed {
  line: string;
  /** From before connecting (or before HELLO) to the server's line. */
  lineAfterMs: number;
  /** From before connecting (or before HELLO) to the socket closing. */
  closedAfterMs: number;
}

async function closedBy(client: WireClient, since: number, timeoutMs: number): Promise<Closed> {
  const line = await client.nextLine(timeoutMs);
  const lineAfterMs = Date.now() - since;
  await client.closed;
  return { line, lineAfterMs, closedAfterMs: Date.now() - since };
}

const stats = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });

describe('slowloris: connections that never finish a frame are closed on time', () => {
  const figure: Record<string, number | string> = {};

  it(`a connection that sends nothing gets ERR hello_timeout after HELLO_TIMEOUT_MS (${helloTimeoutMs} ms) and is closed`, async () => {
    // Timed from before connecting, so the edge's clock (from accepting) can only start later.
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const at = Date.now();
        return { client: await WireClient.connect(plain.port), at };
      }),
    );
    const results = await Promise.all(clients.map(({ client, at }) => closedBy(client, at, helloTimeoutMs + 5_000)));
    for (const r of results) expect(r.line).toMatch(/^ERR hello_timeout /);
    const times = results.map((r) => r.lineAfterMs);
    // Bounds: not before the timeout (5 ms for two processes' clocks), and at most one scan
    // period after it plus scheduling slack.
    expect(Math.min(...times)).toBeGreaterThanOrEqual(helloTimeoutMs - 5);
    expect(Math.max(...times)).toBeLessThanOrEqual(helloTimeoutMs + scanMs + slackMs);
    // The server closes right after its ERR line (half-close, then the peer's end).
    expect(Math.max(...results.map((r) => r.closedAfterMs - r.lineAfterMs))).toBeLessThanOrEqual(slackMs);
    const { min, max } = stats(times);
    figure['silent: ERR hello_timeout after (ms, min–max of 20)'] = `${min}–${max}`;
  });

  it('a connection trickling "HELLO" one byte every 200 ms, never ending the line, is closed at the hello timeout too', async () => {
    const clients = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const at = Date.now();
        const client = await WireClient.connect(plain.port);
        trickle(client, `HELLO slow-hello-${i}-and-it-goes-on-and-on`);
        return { client, at };
      }),
    );
    const results = await Promise.all(clients.map(({ client, at }) => closedBy(client, at, helloTimeoutMs + 5_000)));
    for (const r of results) expect(r.line).toMatch(/^ERR hello_timeout /);
    const times = results.map((r) => r.lineAfterMs);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(helloTimeoutMs - 5);
    expect(Math.max(...times)).toBeLessThanOrEqual(helloTimeoutMs + scanMs + slackMs);
    const { min, max } = stats(times);
    figure['trickled HELLO: ERR hello_timeout after (ms, min–max of 10)'] = `${min}–${max}`;
  });

  it(`after WELCOME, partial frames are not liveness: one byte every 200 ms gets BYE timeout after HEARTBEAT_TIMEOUT_MS (${heartbeatTimeoutMs} ms), while empty lines keep a session`, async () => {
    // Timed from before HELLO: the edge starts the heartbeat clock when the HELLO arrives.
    const sessions = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const at = Date.now();
        const { client } = await WireClient.session(plain.port, `slow-frame-${i}`, 0);
        trickle(client, 'PING {"status":"typing very slowly"}');
        return { client, at };
      }),
    );
    // The control: an empty line is a frame, so it renews the session (docs/protocol.md, Liveness).
    const { client: steady } = await WireClient.session(plain.port, 'slow-but-framed', 0);
    const steadyTimer = setInterval(() => steady.write('\n'), trickleMs);

    const results = await Promise.all(sessions.map(({ client, at }) => closedBy(client, at, heartbeatTimeoutMs + 5_000)));
    for (const r of results) expect(r.line).toBe('BYE timeout');
    const times = results.map((r) => r.lineAfterMs);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(heartbeatTimeoutMs - 5);
    expect(Math.max(...times)).toBeLessThanOrEqual(heartbeatTimeoutMs + scanMs + slackMs);

    // By now the steady client has been connected longer than the timeout: it still answers.
    steady.send('PING');
    expect(await steady.nextLine(2_000, false)).toBe('PONG');
    clearInterval(steadyTimer);
    await steady.bye();

    const { min, max } = stats(times);
    figure['trickled frame after WELCOME: BYE timeout after (ms, min–max of 10)'] = `${min}–${max}`;
    recordFigure({
      id: 'slowloris',
      fault: 'Slowloris: connections that send nothing, or one byte every 200 ms without ever ending a line',
      test: `FAST_TIMING (HELLO_TIMEOUT_MS=${helloTimeoutMs}, HEARTBEAT_TIMEOUT_MS=${heartbeatTimeoutMs}): 20 silent connections, 10 trickling HELLO, 10 trickling a frame after WELCOME; time from connecting / sending HELLO to the server's ERR or BYE`,
      measured: figure,
    });
  });
});

/** Stop after this much even if the edge never drops the flooder (the test then fails). */
const floodCapBytes = 512 * MiB;

/** A client that says HELLO, then stops reading and writes PINGs as fast as TCP takes them, until the edge drops it. */
async function flood(edge: EdgeProcess, clientId: string): Promise<{ sentBytes: number; droppedAfterMs: number }> {
  const flooder = connect(edge.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => flooder.once('connect', resolve).once('error', reject));
  flooder.on('error', () => {});
  flooder.write(`HELLO ${clientId}\n`);
  await new Promise<void>((resolve) => flooder.once('data', () => resolve()));
  flooder.pause();
  let gone = false;
  const closed = new Promise<void>((resolve) => flooder.once('close', () => resolve())).then(() => {
    gone = true;
  });
  const chunk = Buffer.from('PING\n'.repeat(13_107));
  let sentBytes = 0;
  const startedAt = Date.now();
  while (!gone && sentBytes < floodCapBytes) {
    sentBytes += chunk.length;
    if (!flooder.write(chunk)) await Promise.race([new Promise((resolve) => flooder.once('drain', resolve)), closed]);
  }
  const droppedAfterMs = Date.now() - startedAt;
  flooder.destroy();
  expect(gone, `the edge never dropped ${clientId} after ${floodCapBytes} bytes`).toBe(true);
  return { sentBytes, droppedAfterMs };
}

describe('backpressure: a client that sends but never reads', () => {
  it('is dropped by the edge while a well-behaved client on the same edge keeps getting PONGs, and edge memory stays bounded', async () => {
    const before = await metricsOf(fast);
    const rssBefore = sample(before, 'process_resident_memory_bytes');
    const closedBefore = sample(before, 'presence_edge_sessions_ended_total', 'reason="closed"');

    // The well-behaved client: a PING every 50 ms, each PONG timed (PONGs come back in order).
    const { client: good } = await WireClient.session(fast.port, 'polite-reader', 0);
    const sentAt: number[] = [];
    const latencies: number[] = [];
    const otherLines: string[] = [];
    let pending = '';
    good.socket.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'PONG') latencies.push(Date.now() - (sentAt[latencies.length] ?? Date.now()));
        else otherLines.push(line);
      }
    });
    const pinger = setInterval(() => {
      sentAt.push(Date.now());
      good.send('PING');
    }, 50);

    // Two floods one after the other: memory after the second shows whether each one leaves something behind.
    const first = await flood(fast, 'greedy-writer-1');
    const rssAfterFirst = sample(await metricsOf(fast), 'process_resident_memory_bytes');
    const second = await flood(fast, 'greedy-writer-2');
    const rssAfterSecond = sample(await metricsOf(fast), 'process_resident_memory_bytes');

    // The good client kept its session: every PING sent is answered, in order, nothing else arrived.
    clearInterval(pinger);
    await waitFor(() => latencies.length === sentAt.length, { timeoutMs: 5_000, what: 'every PONG of the good client' });
    expect(good.ended).toBe(false);
    expect(otherLines).toEqual([]);
    await good.bye();

    // Both flooders' sessions ended as `closed` (the edge dropped them), nobody else's.
    await waitFor(async () => sample(await metricsOf(fast), 'presence_edge_sessions_ended_total', 'reason="closed"') === closedBefore + 2, {
      timeoutMs: 5_000,
      what: 'two sessions ended as closed',
    });
    const after = await metricsOf(fast);
    expect(sample(after, 'presence_edge_sessions_ended_total', 'reason="leave"')).toBe(1);
    // Logged in order: once the flooder's session end is in the file, so is everything before it.
    await waitFor(
      () =>
        fast
          .log()
          .split('\n')
          .some((line) => line.includes('"greedy-writer-2"') && line.includes('"reason":"closed"')),
      {
        what: 'the log to be written',
      },
    );
    const warnings = fast
      .log()
      .split('\n')
      .filter((line) => line.includes('client is not reading')).length;
    const worst = Math.max(...latencies);
    recordFigure({
      id: 'backpressure',
      fault: 'A client writes PINGs as fast as it can and never reads the PONGs',
      test: `Edge with MAX_FRAMES_PER_SECOND=1000000: a flooder pauses its socket and writes 64 KiB chunks of PING until the edge drops it (more than ${maxUnsentBytes / 1024} KiB unsent), twice in a row; a second client PINGs every 50 ms meanwhile`,
      measured: {
        'sent before being dropped (MiB, 1st / 2nd)': `${(first.sentBytes / MiB).toFixed(1)} / ${(second.sentBytes / MiB).toFixed(1)}`,
        'dropped after (ms, 1st / 2nd)': `${first.droppedAfterMs} / ${second.droppedAfterMs}`,
        'edge RSS before / after 1st / after 2nd (MiB)': [rssBefore, rssAfterFirst, rssAfterSecond]
          .map((b) => (b / MiB).toFixed(1))
          .join(' / '),
        'good client PINGs answered': `${latencies.length}/${sentAt.length}`,
        'good client worst PONG latency (ms)': worst,
        '"client is not reading" log lines (2 drops)': warnings,
      },
    });
    // The good client never waited anywhere near as long as the heartbeat timeout for a PONG.
    expect(worst).toBeLessThan(heartbeatTimeoutMs);
    // What bounds the edge's buffering: the flooder was cut off once the kernel buffers on both
    // sides were full and 64 KiB more was pending, not after whatever it chose to send.
    expect(Math.max(first.sentBytes, second.sentBytes)).toBeLessThan(floodCapBytes / 8);
    // RSS follows the garbage collector's heap sizing (1.6 M frames per flood are garbage), not
    // what the flooders sent; measured: +15-35 MiB after two floods, flat from the third on (it
    // reached 110-140 MiB over seven). Bounds: 64 MiB after one flood, 96 MiB after two.
    expect(rssAfterFirst - rssBefore).toBeLessThan(64 * MiB);
    expect(rssAfterSecond - rssBefore).toBeLessThan(96 * MiB);
  });
});
