import { afterAll, describe, expect, it } from 'vitest';
import { createPresenceClient, type PresenceClient } from '@presence/client';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { waitFor } from '../support/wait-for.js';
import { expiringSentinel, isSentinel } from '../support/sentinel.js';
import { useStack, useEvents, useTestStore } from '../support/use-stack.js';

interface Event {
  type: 'online' | 'offline';
  clientId: string;
}

const CLIENTS = scaled(300, 300);
const EDGES = 3;
const GRACE_MS = 3_000;
const stack = useStack({ edges: EDGES, sweepers: 2, env: { OFFLINE_GRACE_MS: String(GRACE_MS), DRAIN_WINDOW_MS: '500' } });
const live = useEvents(stack);
const { store } = useTestStore(stack);
const clients: PresenceClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => {})));
});

describe('graceful drain without flapping', () => {
  it(`a rolling restart of every edge under ${CLIENTS} SDK clients writes no offline and no online event`, async () => {
    const endpoints = stack.edges.map((edge) => ({ host: '127.0.0.1', port: edge.port }));
    const connectedAt = new Map<string, number>();
    for (let i = 0; i < CLIENTS; i += 1) {
      // Each client lists every edge, starting from a different one, as a client without a load
      // balancer would; after a drain it moves on to the next.
      const rotated = [...endpoints.slice(i % EDGES), ...endpoints.slice(0, i % EDGES)];
      const client = createPresenceClient({
        clientId: `roll-${i}`,
        endpoints: rotated,
        backoffBaseMs: 100,
        backoffCapMs: 1_000,
        shutdownJitterMs: 1_000,
      });
      client.on('connected', () => connectedAt.set(`roll-${i}`, Date.now()));
      client.on('error', () => {});
      clients.push(client);
    }
    await Promise.all(clients.map((client) => client.connect()));
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'online').length === CLIENTS, {
      timeoutMs: 20_000,
      what: `${CLIENTS} online events`,
    });
    const baseline = live.events<Event>().length;

    const gaps: number[] = [];
    for (const edge of stack.edges) {
      const drainedAt = Date.now();
      expect(await edge.stop('SIGTERM')).toBe(0);
      await stack.startEdge(edge);
      await waitFor(
        async () => {
          const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as {
            onlineClients: number;
            nodes: { sessions: number; alive: boolean }[];
          };
          const sessions = stats.nodes.filter((n) => n.alive).reduce((sum, n) => sum + n.sessions, 0);
          return sessions === CLIENTS;
        },
        { timeoutMs: 20_000, what: `all ${CLIENTS} sessions live again after restarting ${edge.name}` },
      );
      const moved = [...connectedAt.values()].filter((t) => t >= drainedAt).map((t) => t - drainedAt);
      gaps.push(...moved);
    }
    // Past the grace and a few sweeps, lingering sessions of the drained nodes are gone: a sentinel
    // session due then ends the window.
    const sentinel = await expiringSentinel(store, GRACE_MS + 1_500);
    await waitFor(() => live.events<Event>().some((e) => e.type === 'offline' && e.clientId === sentinel), {
      timeoutMs: GRACE_MS + 5_000,
      what: 'the sentinel to expire after the grace',
    });

    const after = live
      .events<Event>()
      .slice(baseline)
      .filter((e) => !isSentinel(e.clientId));
    expect(after.filter((e) => e.type === 'offline')).toEqual([]);
    expect(after.filter((e) => e.type === 'online')).toEqual([]);
    const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as { onlineClients: number };
    expect(stats.onlineClients).toBe(CLIENTS);
    gaps.sort((a, b) => a - b);
    recordFigure({
      id: 'rolling-restart',
      fault: 'Rolling restart of every edge node (SIGTERM, drain, start)',
      test: `${CLIENTS} SDK clients over ${EDGES} edges; each edge in turn drains (BYE shutdown spread over 500 ms) and restarts; OFFLINE_GRACE_MS=${GRACE_MS}`,
      measured: {
        'offline events': after.filter((e) => e.type === 'offline').length,
        'online events': after.filter((e) => e.type === 'online').length,
        'client moves (summed over the drains)': gaps.length,
        'reconnected after drain start, p50/p99/max (ms)': `${percentile(gaps, 50)}/${percentile(gaps, 99)}/${percentile(gaps, 100)}`,
      },
    });
  });
});
