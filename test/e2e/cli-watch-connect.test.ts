import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceProcess, runPresence, type PresenceProcessOptions } from '../support/client-cli.js';
import { freePort } from '../support/free-port.js';
import { Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

// The "done when", with the built binary: `presence connect alice` holds a session,
// `presence status alice` says online, `presence watch` prints the offline line when connect gets
// Ctrl-C. Plus: connect rides out a drained edge, and watch rides out an API restart.

let stack: Stack;
let env: Record<string, string>;
const running: PresenceProcess[] = [];
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} UTC';

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1 });
  env = { PRESENCE_API_URL: stack.apiUrl };
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await stack?.stop();
});

function edge(): EdgeProcess {
  const found = stack.edges[0];
  if (found === undefined) throw new Error('no edge');
  return found;
}

function start(args: string[], options: PresenceProcessOptions = {}): PresenceProcess {
  const process = new PresenceProcess(args, env, options);
  running.push(process);
  return process;
}

/** The API counts its SSE subscribers: a watch is live once it is counted. */
async function subscribers(): Promise<number> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  return Number(/presence_sse_subscribers(?:\{[^}]*\})? (\d+)/.exec(text)?.[1] ?? 0);
}

describe('presence connect, status and watch together', () => {
  it('connect makes alice online, status says so, and watch prints the offline line when connect gets Ctrl-C', async () => {
    const watch = start(['watch']);
    await waitFor(async () => (await subscribers()) === 1, { what: 'watch to subscribe' });

    const connect = start(['connect', 'alice', '--port', String(edge().port), '--state', '{"status":"demo"}']);
    const connected = await connect.waitForLine(/^connected to /);
    expect(connected).toMatch(/^connected to 127\.0\.0\.1:\d+ as alice: session [0-9a-f]{20}, heartbeat every 250 ms, timeout 1500 ms$/);
    await watch.waitForLine(/ online +alice /);

    const status = await runPresence(['status', 'alice'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/\nalice +online +.* UTC +1 +edge-0 +\{"status":"demo"\}\n$/);

    expect(await connect.stop('SIGINT')).toBe(0);
    expect(connect.lines().at(-1)).toBe('disconnected: leave (said BYE)');
    const offline = await watch.waitForLine(/ offline +alice /);
    expect(offline).toMatch(new RegExp(`^${TIME}  offline  alice {11}  leave     edge-0$`));
    expect(watch.lines()).toEqual([expect.stringMatching(new RegExp(`^${TIME}  online   alice {11}  -         edge-0$`)), offline]);
    expect((await runPresence(['status', 'alice'], env)).stdout).toMatch(/\nalice +offline +/);

    expect(await watch.stop('SIGINT')).toBe(0);
    expect(watch.stderr).toBe('');
  });

  it('connect takes a new state from each line on stdin', async () => {
    const connect = start(['connect', 'bob', '--port', String(edge().port)]);
    await connect.waitForLine(/^connected to /);
    connect.type('{"status":"typing"}');
    await connect.waitForLine(/^state: \{"status":"typing"\}$/);
    await waitFor(async () => (await runPresence(['status', 'bob'], env)).stdout.includes('{"status":"typing"}'), {
      what: 'the typed state',
    });
    connect.type('not json');
    await waitFor(() => connect.stderr.includes('presence: a state line must be a JSON object'), { what: 'the complaint' });
    expect(await connect.stop('SIGINT')).toBe(0);
  });

  it('connect reports a drained edge, keeps retrying, and is back when the edge is', async () => {
    const connect = start(['connect', 'carol', '--port', String(edge().port), '--json']);
    await connect.waitForLine(/"event":"connected"/);
    await edge().stop('SIGTERM');
    const dropped = JSON.parse(await connect.waitForLine(/"event":"disconnected"/)) as { reason: string };
    expect(dropped.reason).toBe('shutdown');
    const retry = JSON.parse(await connect.waitForLine(/"event":"reconnecting"/)) as { attempt: number; reason: string; delayMs: number };
    expect(retry).toMatchObject({ attempt: 1, reason: 'shutdown' });
    expect(retry.delayMs).toBeLessThan(2_000);
    await stack.startEdge(edge());
    await waitFor(() => connect.lines().filter((l) => l.includes('"event":"connected"')).length === 2, {
      timeoutMs: 35_000,
      what: 'a second connected line',
    });
    expect(await connect.stop('SIGINT')).toBe(0);
  });

  it('watch resumes across an API restart and prints what happened meanwhile, once', async () => {
    const watch = start(['watch', '--types', 'online']);
    // Subscribed once the API counts it; live on the CLI's side once it printed an event.
    await waitFor(async () => (await subscribers()) === 1, { what: 'watch to subscribe' });
    const erin = start(['connect', 'erin', '--port', String(edge().port)]);
    await watch.waitForLine(/ online +erin /);
    const api = stack.api;
    if (api === null) throw new Error('no api');
    expect(await api.stop('SIGTERM')).toBe(0);
    const connect = start(['connect', 'dave', '--port', String(edge().port)]);
    await connect.waitForLine(/^connected to /);
    await stack.startApi();
    await watch.waitForLine(/ online +dave /, 15_000);
    expect(watch.stderr).toMatch(/^presence: event stream interrupted \(.+\); resuming in \d+ ms\n/);
    expect(watch.stderr).toMatch(/presence: event stream resumed\n$/);
    expect(watch.lines().filter((l) => / online +dave /.test(l))).toHaveLength(1);
    expect(await connect.stop('SIGINT')).toBe(0);
    expect(await erin.stop('SIGINT')).toBe(0);
    expect(await watch.stop('SIGINT')).toBe(0);
  });

  it('watch fails at once, with exit 1, when the API is not there to begin with', async () => {
    const api = `http://127.0.0.1:${await freePort()}`;
    const result = await runPresence(['watch', '--api', api]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`presence: cannot reach the API at ${api} (ECONNREFUSED); is it running? (set --api or PRESENCE_API_URL)\n`);
  });
});

describe('Ctrl-C through npx', () => {
  // A terminal's Ctrl-C reaches npm, the shell it runs the bin through and the bin: the exit status
  // is npx's, as a user's shell sees it (the e2e support signals the whole process group).
  it('watch and connect exit 0 on one Ctrl-C, and connect still leaves with BYE', async () => {
    const watch = start(['watch'], { npx: true });
    await waitFor(async () => (await subscribers()) === 1, { timeoutMs: 20_000, what: 'watch (through npx) to subscribe' });
    const connect = start(['connect', 'frank', '--port', String(edge().port)], { npx: true });
    await connect.waitForLine(/^connected to /, 20_000);
    await watch.waitForLine(/ online +frank /);

    expect(await connect.stop('SIGINT')).toBe(0);
    expect(connect.lines().at(-1)).toBe('disconnected: leave (said BYE)');
    await watch.waitForLine(/ offline +frank +leave /);
    expect(await watch.stop('SIGINT')).toBe(0);
  });
});
