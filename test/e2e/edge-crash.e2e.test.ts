import { describe, expect, it } from 'vitest';
import { eventWrittenAt, sessionMember } from '@presence/wire-format';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { FAST_TIMING } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { expiringSentinel } from '../support/sentinel.js';
import { useStack, useEvents, useTestStore } from '../support/use-stack.js';

interface Event {
  id: string;
  type: 'online' | 'offline';
  clientId: string;
  node: string;
  reason: string | null;
  at: number;
}

const stack = useStack({ edges: 3, sweepers: 2 });
const live = useEvents(stack);
const { redis, store } = useTestStore(stack);
const sessionTtlMs = Number(FAST_TIMING.SESSION_TTL_MS);
const sweepIntervalMs = Number(FAST_TIMING.SWEEP_INTERVAL_MS);

const port = (i: number) => (stack.edges[i] as { port: number }).port;

/** presence_nodes{state} from the API's /metrics: what the EdgeNodeDead alert reads. */
async function nodeGauge(): Promise<{ alive: number; dead: number }> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  const value = (state: string) => Number(new RegExp(`^presence_nodes\\{state="${state}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1]);
  return { alive: value('alive'), dead: value('dead') };
}

describe('an edge node dies', () => {
  it('SIGKILL: its clients go offline as expired within session TTL + sweep interval; other nodes see nothing', async () => {
    const DOOMED = scaled(200, 20);
    const doomed = await Promise.all(Array.from({ length: DOOMED }, (_, i) => WireClient.session(port(0), `crash-a-${i}`)));
    const survivors = await Promise.all(Array.from({ length: 20 }, (_, i) => WireClient.session(port(1), `crash-b-${i}`)));
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'online' && e.clientId.startsWith('crash-')).length === DOOMED + 20, {
      what: 'online events',
    });
    // Let a refresh pass so deadlines are the steady-state ones, not the first write: the first doomed
    // session's deadline in Redis moves later.
    const [sessionId, clientId] = [(doomed[0] as { sessionId: string }).sessionId, 'crash-a-0'];
    const deadlines = store.keys.shard(store.keys.shardOf(clientId)).deadlines;
    const deadline = () => redis.zscore(deadlines, sessionMember(sessionId, clientId)).then(Number);
    const firstDeadline = await deadline();
    await waitFor(async () => (await deadline()) > firstDeadline, { what: 'a refresh' });

    const killedAt = Date.now();
    await stack.edges[0]?.stop('SIGKILL');

    const offlineA = () => live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('crash-a-'));
    await waitFor(() => offlineA().length === DOOMED, { timeoutMs: 15_000, what: 'expired events' });
    // Detection: when the sweep wrote each event (its `at` is earlier: the last time the node vouched).
    const delays = offlineA()
      .map((e) => (eventWrittenAt(e.id) as number) - killedAt)
      .sort((a, b) => a - b);
    // Bound: the deadline is at most TTL after the last refresh, found by the next sweep; plus 1 s
    // for a loaded two-core machine.
    const bound = sessionTtlMs + sweepIntervalMs + 1_000;
    expect(delays[delays.length - 1]).toBeLessThanOrEqual(bound);
    expect(offlineA().every((e) => e.reason === 'expired' && e.node === 'edge-0')).toBe(true);
    // Exactly one event per client, though two sweepers were running.
    expect(new Set(offlineA().map((e) => e.clientId)).size).toBe(DOOMED);

    // One more TTL: nothing may happen to the other node's clients. A sentinel session due then ends
    // the window when its expiry arrives.
    const sentinel = await expiringSentinel(store, sessionTtlMs + sweepIntervalMs);
    await waitFor(() => live.events<Event>().some((e) => e.type === 'offline' && e.clientId === sentinel), {
      timeoutMs: 10_000,
      what: 'the sentinel to expire',
    });
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
    expect(await nodeGauge()).toEqual({ alive: 2, dead: 1 });
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
    // A node that shut down removed itself: it is not counted dead.
    expect(await nodeGauge()).toEqual({ alive: 1, dead: 1 });
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('drain-')).length === 10, {
      what: 'offline events',
    });
    expect(
      live
        .events<Event>()
        .filter((e) => e.type === 'offline' && e.clientId.startsWith('drain-'))
        .every((e) => e.reason === 'shutdown'),
    ).toBe(true);
  });
});
