import { describe, expect, it } from 'vitest';
import { recordFigure } from '../support/figures.js';
import { waitFor } from '../support/wait-for.js';
import { expiringSentinel } from '../support/sentinel.js';
import { WireClient } from '../support/wire-client.js';
import { useStack, useEvents, useTestStore } from '../support/use-stack.js';

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
  at: number;
}

const GRACE_MS = 1_500;
/** Events written for the client that dropped and came back within the grace (expected: none). */
let eventsForReturn = NaN;
const stack = useStack({ edges: 2, sweepers: 1, env: { OFFLINE_GRACE_MS: String(GRACE_MS) } });
const live = useEvents(stack);
const { store } = useTestStore(stack);

const eventsOf = (id: string) => live.events<Event>().filter((e) => e.clientId === id);
const port = (i: number) => (stack.edges[i] as { port: number }).port;

describe('offline grace (OFFLINE_GRACE_MS)', () => {
  it('a dropped connection that comes back within the grace, on another node, makes no event', async () => {
    const first = await WireClient.session(port(0), 'grace-back');
    await waitFor(() => eventsOf('grace-back').length === 1, { what: 'online event' });
    first.client.destroy();
    const again = await WireClient.session(port(1), 'grace-back');
    // Past the grace and a few sweeps nothing may happen: a sentinel session due then ends the window.
    const sentinel = await expiringSentinel(store, GRACE_MS + 1_000);
    await waitFor(() => live.events<Event>().some((e) => e.type === 'offline' && e.clientId === sentinel), {
      timeoutMs: GRACE_MS + 5_000,
      what: 'the sentinel to expire after the grace',
    });
    expect(eventsOf('grace-back').map((e) => e.type)).toEqual(['online']);
    eventsForReturn = eventsOf('grace-back').length - 1;
    const presence = (await (await fetch(`${stack.apiUrl}/v1/presence/grace-back`)).json()) as {
      online: boolean;
      sessions: { sessionId: string }[];
    };
    expect(presence.online).toBe(true);
    expect(presence.sessions.map((s) => s.sessionId)).toEqual([again.sessionId]);
    await again.client.bye();
  });

  it('one that does not come back is reported after the grace, with the time it really ended', async () => {
    const { client } = await WireClient.session(port(0), 'grace-gone');
    await waitFor(() => eventsOf('grace-gone').length === 1, { what: 'online event' });
    const closedAt = Date.now();
    client.destroy();
    await waitFor(() => eventsOf('grace-gone').length === 2, { timeoutMs: GRACE_MS + 5_000, what: 'offline event' });
    const reportedAfter = Date.now() - closedAt;
    const offline = eventsOf('grace-gone')[1] as Event;
    expect(offline).toMatchObject({ type: 'offline', reason: 'closed' });
    expect(reportedAfter).toBeGreaterThanOrEqual(GRACE_MS);
    // Redis and this test share the machine's clock: the event time is the close, not the sweep.
    expect(Math.abs(offline.at - closedAt)).toBeLessThanOrEqual(100);
    recordFigure({
      id: 'offline-grace',
      fault: 'Connection dropped (no BYE), offline grace on',
      test: `OFFLINE_GRACE_MS=${GRACE_MS}: a client drops its socket and reconnects to another node within the grace; another drops and stays away`,
      measured: {
        'events written for the client that came back': eventsForReturn,
        'offline reported after (ms)': reportedAfter,
        'offline event time minus real close (ms)': offline.at - closedAt,
      },
    });
  });

  it('BYE and heartbeat timeouts are not debounced', async () => {
    const { client } = await WireClient.session(port(1), 'grace-bye');
    await client.bye();
    await waitFor(() => eventsOf('grace-bye').length === 2, { timeoutMs: 1_000, what: 'an immediate offline event' });
    expect(eventsOf('grace-bye')[1]?.reason).toBe('leave');
  });
});
