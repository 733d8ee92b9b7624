import { afterAll, describe, expect, it } from 'vitest';
import { createPresenceClient, type DisconnectedInfo, type PresenceClient, type ReconnectingInfo } from '@presence/client';
import { waitFor } from '../support/wait-for.js';
import { useStack } from '../support/use-stack.js';

// Reconnects against real edge processes: an edge that crashes and comes back, an edge that drains
// (BYE shutdown), and 100 clients of a drained edge arriving at another one spread out in time.

interface Presence {
  online: boolean;
  sessions: { sessionId: string; node: string; meta: Record<string, unknown> | null }[];
}

const stack = useStack({ edges: 1, sweepers: 1 });
const clients: PresenceClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

function track(client: PresenceClient): PresenceClient {
  clients.push(client);
  return client;
}

async function presence(clientId: string): Promise<Presence> {
  return (await (await fetch(`${stack.apiUrl}/v1/presence/${clientId}`)).json()) as Presence;
}

const at = (port: number) => ({ host: '127.0.0.1', port });

describe('reconnecting', () => {
  it('is online again within the backoff cap after its edge crashes and restarts, with its state', async () => {
    const capMs = 1_000;
    const edge = await stack.addEdge();
    const reconnects: ReconnectingInfo[] = [];
    const client = track(
      createPresenceClient({
        endpoints: [at(edge.port)],
        clientId: 'sdk-restart',
        state: { level: 7 },
        backoffBaseMs: 100,
        backoffCapMs: capMs,
      }),
    );
    client.on('reconnecting', (info) => reconnects.push(info));
    const first = await client.connect();

    await edge.stop('SIGKILL');
    // Let the attempts fail until the delay ceiling is at the cap (100 · 2^4 ≥ 1000 from attempt 5).
    await waitFor(() => reconnects.length >= 5, { timeoutMs: 10_000, what: 'five failed attempts' });
    expect(reconnects[0]).toMatchObject({ reason: 'closed', attempt: 1 });
    expect(reconnects.every((r) => r.delayMs < capMs)).toBe(true);

    const back = new Promise<number>((resolve) => client.once('connected', () => resolve(performance.now())));
    await stack.startEdge(edge);
    const acceptingAt = performance.now();
    const onlineAfterMs = (await back) - acceptingAt;
    console.info(
      `[figure] online ${onlineAfterMs.toFixed(0)} ms after the restarted edge accepted connections (bound: cap ${capMs} ms + 300 ms)`,
    );
    // The next attempt starts at most one ceiling (≤ cap) after the edge is back, plus a handshake.
    expect(onlineAfterMs).toBeLessThanOrEqual(capMs + 300);

    const after = await waitFor(
      async () => {
        const p = await presence('sdk-restart');
        return p.sessions.some((s) => s.sessionId === client.sessionId && s.meta?.level === 7) ? p : false;
      },
      { what: 'the new session with the state re-sent' },
    );
    expect(after.online).toBe(true);
    expect(client.sessionId).not.toBe(first.sessionId);
    await client.close();
    await edge.stop('SIGTERM');
  });

  it('after BYE shutdown from a draining edge, reconnects to the next endpoint within the jitter window', async () => {
    const draining = await stack.addEdge();
    const next = await stack.addEdge();
    const disconnects: DisconnectedInfo[] = [];
    const reconnects: ReconnectingInfo[] = [];
    const shutdownJitterMs = 1_000;
    const client = track(
      createPresenceClient({
        endpoints: [at(draining.port), at(next.port)],
        clientId: 'sdk-drained',
        state: { seat: 12 },
        shutdownJitterMs,
      }),
    );
    client.on('disconnected', (info) => disconnects.push(info)).on('reconnecting', (info) => reconnects.push(info));
    await client.connect();
    const back = new Promise<number>((resolve) => client.once('connected', () => resolve(performance.now())));
    const stoppingAt = performance.now();
    const stopped = draining.stop('SIGTERM');
    const backMs = (await back) - stoppingAt;
    expect(await stopped).toBe(0);
    expect(disconnects).toEqual([{ reason: 'shutdown', code: null, willReconnect: true, error: null }]);
    expect(reconnects).toHaveLength(1);
    expect(reconnects[0]).toMatchObject({ reason: 'shutdown', endpoint: at(next.port) });
    expect(reconnects[0]?.delayMs).toBeLessThan(shutdownJitterMs);
    // Bound: the edge's drain window (200 ms in tests) + the jitter window + a handshake.
    expect(backMs).toBeLessThan(200 + shutdownJitterMs + 500);
    await waitFor(async () => (await presence('sdk-drained')).sessions.some((s) => s.node === next.name && s.meta?.seat === 12), {
      what: 'the session and its state on the next edge',
    });
    await client.close();
    await next.stop('SIGTERM');
  });

  it('spreads the reconnects of 100 clients of a drained edge over the jitter window instead of one burst', async () => {
    // The edge sends all its BYEs at once (DRAIN_WINDOW_MS=0), so any spread comes from the clients.
    const draining = await stack.addEdge({ DRAIN_WINDOW_MS: '0' });
    const next = await stack.addEdge();
    const count = 100;
    const shutdownJitterMs = 2_000;
    const arrivals: number[] = [];
    const byes: number[] = [];
    const fleet = Array.from({ length: count }, (_, i) =>
      track(
        createPresenceClient({
          endpoints: [at(draining.port), at(next.port)],
          clientId: `sdk-fleet-${String(i).padStart(3, '0')}`,
          shutdownJitterMs,
        }),
      ),
    );
    await Promise.all(fleet.map((c) => c.connect()));
    for (const c of fleet) {
      c.on('disconnected', () => byes.push(performance.now()));
      c.on('connected', () => arrivals.push(performance.now()));
    }
    await draining.stop('SIGTERM');
    await waitFor(() => arrivals.length === count, { timeoutMs: shutdownJitterMs + 5_000, what: 'every client on the next edge' });

    const first = Math.min(...byes);
    const offsets = arrivals.map((t) => t - first).sort((a, b) => a - b);
    const pct = (p: number) => offsets[Math.min(count - 1, Math.ceil((p / 100) * count) - 1)] as number;
    const byeSpread = Math.max(...byes) - first;
    console.info(
      `[figure] ${count} reconnects after one drain: BYEs within ${byeSpread.toFixed(0)} ms; arrivals p10 ${pct(10).toFixed(0)} ms, ` +
        `p50 ${pct(50).toFixed(0)} ms, p90 ${pct(90).toFixed(0)} ms, max ${pct(100).toFixed(0)} ms (jitter window ${shutdownJitterMs} ms)`,
    );
    // Uniform over 0..2000 ms puts p10..p90 about 1600 ms apart; a burst would put them within
    // milliseconds. Checked: p10..p90 spans at least half the window, the busiest 50 ms holds at
    // most a fifth of the clients, and the last one arrives within the window plus 1 s.
    expect(pct(90) - pct(10)).toBeGreaterThanOrEqual(shutdownJitterMs / 2);
    let busiest = 0;
    for (const start of offsets) busiest = Math.max(busiest, offsets.filter((t) => t >= start && t < start + 50).length);
    expect(busiest).toBeLessThanOrEqual(count / 5);
    expect(pct(100)).toBeLessThan(shutdownJitterMs + 1_000);

    await waitFor(
      async () => {
        const stats = (await (await fetch(`${stack.apiUrl}/v1/stats`)).json()) as { nodes: { node: string; sessions: number }[] };
        return stats.nodes.find((n) => n.node === next.name)?.sessions === count;
      },
      { what: `${count} sessions on ${next.name}` },
    );
    await Promise.all(fleet.map((c) => c.close()));
  });
});
