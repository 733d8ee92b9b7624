import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { OFFLINE_REASONS, type OfflineReason, type PresenceStore, type StreamedEvent, type WriteResult } from '@presence/presence-store';
import { connectTestRedis, createTestStore } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

// The multi-device rule (docs/data-model.md, "Which end takes a client offline"): a client with two
// sessions, A ending before B, goes offline once with B's reason and B's end time, as soon as B's end
// is final — B's own grace for closed/shutdown, at once otherwise — whatever A's reason, and without
// waiting for A's grace. Every pair of reasons, each on one edge node and across two.

/** Offline grace of closed/shutdown ends: long, so waiting for A's grace would show. */
const GRACE_MS = 3_000;
/** TTL of a session meant to expire; the other sessions are given an hour. */
const SHORT_TTL_MS = 300;
const LONG_TTL_MS = 3_600_000;
const LINGERS: ReadonlySet<OfflineReason> = new Set(['closed', 'shutdown']);

interface Case {
  a: OfflineReason;
  b: OfflineReason;
  nodes: 'one edge' | 'two edges';
  clientId: string;
  /** When A and B ended (Redis time): B's vouched time when it expired. */
  endA?: number;
  endB?: number;
}

let redis: Redis;
let store: PresenceStore;

beforeAll(() => {
  redis = connectTestRedis();
  store = createTestStore(redis, { shards: 4 });
});

afterAll(() => {
  redis.disconnect();
});

function nowOf(result: WriteResult): number {
  if (!result.ok || !('now' in result)) throw new Error(`write failed: ${JSON.stringify(result)}`);
  return result.now;
}

/** Ends a session the way its edge would; expired sessions are left for the sweeps. */
async function end(c: Case, session: 'A' | 'B', reason: OfflineReason, registeredAt: number): Promise<number | null> {
  if (reason === 'expired') return null;
  const result = await store.write({
    kind: 'remove',
    sessionId: `${c.clientId}-${session}`,
    clientId: c.clientId,
    reason,
    graceMs: GRACE_MS,
    node: nodeOf(c, session),
    registeredAt,
  });
  return nowOf(result);
}

function nodeOf(c: Case, session: 'A' | 'B'): string {
  return c.nodes === 'one edge' || session === 'A' ? 'edge-a' : 'edge-b';
}

async function sweepAll(): Promise<void> {
  for (let shard = 0; shard < store.keys.shardCount; shard += 1) {
    while ((await store.sweepShard(shard, 200)).more);
  }
}

async function offlineEvents(): Promise<StreamedEvent[]> {
  const all: StreamedEvent[] = [];
  for (let shard = 0; shard < store.keys.shardCount; shard += 1) {
    all.push(...(await store.readEvents(shard, '0-0', 10_000)));
  }
  return all.filter((streamed) => streamed.event.type === 'offline');
}

/** The Redis time an event was written at: its stream entry id's milliseconds. */
const writtenAt = (streamed: StreamedEvent) => Number(streamed.streamId.split('-')[0]);

describe('which end takes a multi-device client offline', () => {
  it('is the session that ended last, for every pair of reasons, on one edge and across edges', async () => {
    const cases: Case[] = [];
    for (const nodes of ['one edge', 'two edges'] as const) {
      for (const a of OFFLINE_REASONS) {
        for (const b of OFFLINE_REASONS) cases.push({ a, b, nodes, clientId: `x-${a}-${b}-${nodes === 'one edge' ? 1 : 2}` });
      }
    }

    // Both sessions register; a session meant to expire gets a short TTL (A's runs out now; B's is
    // renewed after A ended, so that B is vouched for later than A's end).
    const registered = new Map<string, number>();
    await Promise.all(
      cases.flatMap((c) =>
        (['A', 'B'] as const).map(async (session) => {
          const reason = session === 'A' ? c.a : c.b;
          const result = await store.write({
            kind: 'add',
            sessionId: `${c.clientId}-${session}`,
            clientId: c.clientId,
            node: nodeOf(c, session),
            ttlMs: reason === 'expired' ? SHORT_TTL_MS : LONG_TTL_MS,
            stateJson: null,
          });
          registered.set(`${c.clientId}-${session}`, nowOf(result));
        }),
      ),
    );

    // A ends: by its edge, or (expired) by a sweep once its deadline has passed, with no event
    // since B is live. B's expiry is kept off meanwhile by renewing it.
    // One refresh per session, so that each knows the Redis time it was vouched for at.
    const refreshB = (c: Case, ttlMs: number) =>
      store.write({ kind: 'refresh', sessions: [{ sessionId: `${c.clientId}-B`, clientId: c.clientId }], ttlMs });
    const expiringB = cases.filter((c) => c.b === 'expired');
    await Promise.all(
      cases.map(async (c) => {
        c.endA = (await end(c, 'A', c.a, registered.get(`${c.clientId}-A`) as number)) ?? registered.get(`${c.clientId}-A`);
      }),
    );
    await Promise.all(expiringB.map((c) => refreshB(c, LONG_TTL_MS)));
    const aExpires = (await store.now()) + SHORT_TTL_MS;
    await waitFor(async () => (await store.now()) > aExpires, { what: 'the deadlines of the A sessions meant to expire' });
    await sweepAll();
    expect(await offlineEvents(), 'no offline while B is live').toEqual([]);

    // B ends, later than A.
    await Promise.all(
      cases.map(async (c) => {
        c.endB = (await end(c, 'B', c.b, registered.get(`${c.clientId}-B`) as number)) ?? nowOf(await refreshB(c, SHORT_TTL_MS));
      }),
    );

    // Sweeps run until every client is offline.
    await waitFor(
      async () => {
        await sweepAll();
        return (await offlineEvents()).length >= cases.length;
      },
      { timeoutMs: GRACE_MS * 3, intervalMs: 25, what: 'an offline event for every client' },
    );
    const events = await offlineEvents();
    for (const c of cases) {
      const mine = events.filter((streamed) => streamed.event.clientId === c.clientId);
      const label = `${c.a} then ${c.b} (${c.nodes})`;
      expect(mine, `${label}: one offline event`).toHaveLength(1);
      const [streamed] = mine as [StreamedEvent];
      expect(streamed.event, label).toMatchObject({
        reason: c.b,
        sessionId: `${c.clientId}-B`,
        node: nodeOf(c, 'B'),
        at: c.endB,
      });
      expect(await store.getClient(c.clientId), label).toMatchObject({ online: false, sessions: [], lastSeenAt: c.endB });
      // Not held back by A's grace: out at once, or at B's own deadline (expiry, or B's grace).
      const final = LINGERS.has(c.b) ? (c.endB as number) + GRACE_MS : c.b === 'expired' ? (c.endB as number) + SHORT_TTL_MS : c.endB;
      if (LINGERS.has(c.a) && !LINGERS.has(c.b)) {
        expect(writtenAt(streamed), `${label}: out before A's grace ended`).toBeLessThan((c.endA as number) + GRACE_MS);
      }
      expect(writtenAt(streamed), `${label}: not before B's end was final`).toBeGreaterThanOrEqual(final as number);
    }
  });

  it('waits for a lingering session that ended after the one that expired', async () => {
    // A's node stops vouching (it will expire); B's connection then closes (it lingers). A's expiry
    // must not take the client offline: B ended later and may still come back within its grace.
    const clientId = 'y-expired-under-closed';
    const a = await store.write({ kind: 'add', sessionId: 'yA', clientId, node: 'edge-a', ttlMs: SHORT_TTL_MS, stateJson: null });
    const b = await store.write({ kind: 'add', sessionId: 'yB', clientId, node: 'edge-b', ttlMs: LONG_TTL_MS, stateJson: null });
    await waitFor(async () => (await store.now()) > nowOf(a), { what: 'a millisecond after A was last vouched for' });
    const closedAt = nowOf(
      await store.write({ kind: 'remove', sessionId: 'yB', clientId, reason: 'closed', graceMs: GRACE_MS, registeredAt: nowOf(b) }),
    );
    expect(closedAt).toBeGreaterThan(nowOf(a));
    await waitFor(async () => (await store.now()) > nowOf(a) + SHORT_TTL_MS, { what: "A's deadline" });
    await sweepAll();
    const presence = await store.getClient(clientId);
    expect(presence.online, 'still online: B may come back within its grace').toBe(true);
    expect(presence.sessions.map((s) => s.sessionId)).toEqual(['yB']);

    // B comes back within the grace: no event at all.
    await store.write({ kind: 'add', sessionId: 'yC', clientId, node: 'edge-b', ttlMs: LONG_TTL_MS, stateJson: null });
    await sweepAll();
    expect((await offlineEvents()).filter((streamed) => streamed.event.clientId === clientId)).toEqual([]);
  });
});
