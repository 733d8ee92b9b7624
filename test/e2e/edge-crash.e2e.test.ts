import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING, Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  node: string;
  reason: string | null;
  at: number;
}

let stack: Stack;
let live: SseClient;
const sessionTtlMs = Number(FAST_TIMING.SESSION_TTL_MS);
const sweepIntervalMs = Number(FAST_TIMING.SWEEP_INTERVAL_MS);

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 3, sweepers: 2 });
  live = await SseClient.open(`${stack.apiUrl}/v1/events`);
  await waitFor(() => live.lastEventId !== null, { what: 'the SSE stream to open' });
});

afterAll(async () => {
  live?.close();
  await stack?.stop();
});

const port = (i: number) => (stack.edges[i] as { port: number }).port;

describe('an edge node dies', () => {
  it('SIGKILL: its clients go offline as expired within session TTL + sweep interval; other nodes see nothing', async () => {
    const DOOMED = scaled(200, 20);
    const doomed = await Promise.all(Array.from({ length: DOOMED }, (_, i) => WireClient.session(port(0), `crash-a-${i}`)));
    const survivors = await Promise.all(Array.from({ length: 20 }, (_, i) => WireClient.session(port(1), `crash-b-${i}`)));
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'online' && e.clientId.startsWith('crash-')).length === DOOMED + 20, {
      what: 'online events',
    });
    // Let at least one refresh pass so deadlines are the steady-state ones, not the first write.
    const refreshed = Date.now() + 2 * Number(FAST_TIMING.SESSION_REFRESH_MS);
    await waitFor(() => Date.now() > refreshed, { what: 'a refresh period' });

    const killedAt = Date.now();
    await stack.edges[0]?.stop('SIGKILL');

    const offlineA = () => live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('crash-a-'));
    await waitFor(() => offlineA().length === DOOMED, { timeoutMs: 15_000, what: 'expired events' });
    const delays = offlineA().map((e) => e.at - killedAt).sort((a, b) => a - b);
    // Bound: the deadline is at most TTL after the last refresh, found by the next sweep; plus 1 s
    // for a loaded two-core machine.
    const bound = sessionTtlMs + sweepIntervalMs + 1_000;
    expect(delays[delays.length - 1]).toBeLessThanOrEqual(bound);
    expect(offlineA().every((e) => e.reason === 'expired' && e.node === 'edge-0')).toBe(true);
    // Exactly one event per client, though two sweepers were running.
    expect(new Set(offlineA().map((e) => e.clientId)).size).toBe(DOOMED);

    // Wait one more TTL: nothing may happen to the other node's clients.
    const quiet = Date.now() + sessionTtlMs + sweepIntervalMs * 2;
    await waitFor(() => Date.now() > quiet, { timeoutMs: 10_000, what: 'a quiet period' });
    expect(live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('crash-b-'))).toEqual([]);
    expect(live.events<Event>().filter((e) => e.clientId.startsWith('crash-a-')).length).toBe(2 * DOOMED);
    recordFigure({
      id: 'edge-crash',
      fault: 'Edge node crash (SIGKILL)',
      test: `${DOOMED} clients on the killed edge, 20 on another; session TTL ${sessionTtlMs} ms, sweep every ${sweepIntervalMs} ms, 2 sweepers`,
      measured: {
        'detection after kill, p50/p99/max (ms)': `${percentile(delays, 50)}/${percentile(delays, 99)}/${percentile(delays, 100)}`,
        'bound (TTL + sweep interval, ms)': sessionTtlMs + sweepIntervalMs,
        'events lost / doubled': `${DOOMED - new Set(offlineA().map((e) => e.clientId)).size}/${offlineA().length - new Set(offlineA().map((e) => e.clientId)).size}`,
        'false offline on the other node': 0,
      },
    });

    const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as { nodes: { node: string; alive: boolean }[] };
    expect(stats.nodes.find((n) => n.node === 'edge-0')?.alive).toBe(false);
    expect(stats.nodes.find((n) => n.node === 'edge-1')?.alive).toBe(true);
    for (const s of doomed) s.client.destroy();
    await Promise.all(survivors.map((s) => s.client.bye()));
  });

  it('SIGTERM: the node says BYE shutdown to each client, reports them offline and exits 0', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => WireClient.session(port(2), `drain-${i}`)));
    await waitFor(() => live.events<Event>().filter((e) => e.clientId.startsWith('drain-')).length === 10, { what: 'online events' });
    const exit = stack.edges[2]?.stop('SIGTERM');
    const lines = await Promise.all(clients.map((c) => c.client.nextLine(10_000)));
    expect(new Set(lines)).toEqual(new Set(['BYE shutdown']));
    expect(await exit).toBe(0);
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('drain-')).length === 10, {
      what: 'offline events',
    });
    expect(live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('drain-')).every((e) => e.reason === 'shutdown')).toBe(true);
  });
});
