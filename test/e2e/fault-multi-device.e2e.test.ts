import { describe, expect, it } from 'vitest';
import { eventWrittenAt } from '@presence/wire-format';
import { recordFigure } from '../support/figures.js';
import { FAST_TIMING } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { useStack, useEvents } from '../support/use-stack.js';

// Issue 13 §1, as a user meets it: a client on two devices (two edges); one device's connection
// closes (it lingers in the offline grace), the other goes on heartbeating, then its edge dies. The
// client was online through the second device until that edge died, so the one offline event must
// say `expired`, at that session's last vouched time, and come when the sweep finds it — not with the
// first device's `closed` when its grace ends. The grace here is far longer than TTL + sweep, so
// waiting for it would show.

interface Event {
  id: string;
  type: 'online' | 'offline';
  clientId: string;
  sessionId: string;
  node: string;
  reason: string | null;
  at: number;
}

interface Presence {
  online: boolean;
  lastSeenAt: number | null;
  sessions: { sessionId: string; node: string; lastSeenAt: number; endedAt: number | null }[];
}

const GRACE_MS = 8_000;
const ttlMs = Number(FAST_TIMING.SESSION_TTL_MS);
const sweepIntervalMs = Number(FAST_TIMING.SWEEP_INTERVAL_MS);

const stack = useStack({ edges: 2, sweepers: 1, env: { OFFLINE_GRACE_MS: String(GRACE_MS) } });
const live = useEvents(stack);

const port = (i: number) => (stack.edges[i] as { port: number }).port;
const eventsOf = (id: string) => live.events<Event>().filter((e) => e.clientId === id);
const presenceOf = async (id: string) => (await (await fetch(`${stack.apiUrl}/v1/presence/${id}`)).json()) as Presence;

describe('a multi-device client whose later session ends for real', () => {
  it('goes offline with the later session end (expired, at its last vouched time), without waiting for the earlier grace', async () => {
    const first = await WireClient.session(port(0), 'x');
    const second = await WireClient.session(port(1), 'x');
    await waitFor(async () => (await presenceOf('x')).sessions.length === 2, { what: 'both sessions in Redis' });

    // Device 1's socket closes: its session lingers, the client stays online.
    first.client.destroy();
    await waitFor(async () => (await presenceOf('x')).sessions.some((s) => s.sessionId === first.sessionId && s.endedAt !== null), {
      what: 'the first session to linger',
    });
    const closedAt = (await presenceOf('x')).sessions.find((s) => s.sessionId === first.sessionId)?.endedAt as number;

    // Device 2 heartbeats on, long enough for its edge to vouch for it after the close, then its
    // edge is SIGKILLed. Its last vouched time is read from the API until the kill.
    let vouched = 0;
    await waitFor(
      async () => {
        const session = (await presenceOf('x')).sessions.find((s) => s.sessionId === second.sessionId);
        vouched = session?.lastSeenAt ?? 0;
        return vouched > closedAt + 2 * Number(FAST_TIMING.SESSION_REFRESH_MS);
      },
      { what: 'the second session to be vouched for after the first closed' },
    );
    await stack.edges[1]?.stop('SIGKILL');
    const killedAt = Date.now();
    // The last refresh may have landed between the read above and the kill.
    for (const s of (await presenceOf('x')).sessions) if (s.sessionId === second.sessionId) vouched = Math.max(vouched, s.lastSeenAt);

    await waitFor(() => eventsOf('x').some((e) => e.type === 'offline'), {
      timeoutMs: ttlMs + sweepIntervalMs + 5_000,
      what: 'the offline event',
    });
    const arrivedAfterKill = Date.now() - killedAt;
    const offline = eventsOf('x').filter((e) => e.type === 'offline');
    expect(offline).toHaveLength(1);
    const [event] = offline as [Event];
    expect(event).toMatchObject({ reason: 'expired', sessionId: second.sessionId, node: 'edge-1', at: vouched });
    // Out when the sweep found the deadline, long before the first session's grace would end.
    expect(eventWrittenAt(event.id)).toBeLessThan(closedAt + GRACE_MS);
    expect(await presenceOf('x')).toMatchObject({ online: false, sessions: [], lastSeenAt: vouched });

    // Nothing more for x once the first session's grace has passed too. The window closes with a
    // sentinel: a client whose own grace ends after the first session's.
    const sentinel = await WireClient.session(port(0), 'x-sentinel');
    sentinel.client.destroy();
    await waitFor(() => eventsOf('x-sentinel').some((e) => e.type === 'offline'), {
      timeoutMs: GRACE_MS + ttlMs + 5_000,
      what: "the sentinel's offline, after x's first grace",
    });
    expect(eventsOf('x').map((e) => e.type)).toEqual(['online', 'offline']);

    recordFigure({
      id: 'multi-device-end',
      fault: 'Multi-device client: one session closed (lingering), the other edge SIGKILLed',
      test: `grace ${GRACE_MS} ms, session TTL ${ttlMs} ms, sweep every ${sweepIntervalMs} ms; 2 edges, 1 sweeper`,
      measured: {
        'offline events': offline.length,
        'reason / at': `${event.reason} / last vouched time (${event.at - closedAt} ms after the first close)`,
        'kill → offline event (ms)': arrivedAfterKill,
        'bound: TTL + sweep interval (ms)': ttlMs + sweepIntervalMs,
      },
    });
    second.client.destroy();
  });
});
