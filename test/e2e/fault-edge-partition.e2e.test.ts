import { afterEach, describe, expect, it } from 'vitest';
import { createPresenceClient, type PresenceClient } from '@presence/client';
import { KeySpace, MAX_RETRY_DELAY_MS, sessionMember, type PresenceEvent } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { metricValue } from '../support/metric-value.js';
import { RedisServer } from '../support/redis-server.js';
import { SseClient } from '../support/sse-client.js';
import { Stack, canConnect, type EdgeProcess } from '../support/stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

/**
 * Issue 13 §2: one edge cut off from Redis while everything else reaches it, and, with the same
 * setup, Redis away for everyone. Edge A reaches Redis through a TCP proxy that can hold every byte
 * (a partition: delayed, not lost); edge B, the sweepers and the API reach it directly, and the
 * API's /readyz is both edges' witness (REDIS_WITNESS_URL). The clients on A are SDK clients that
 * list A then B, as clients without a load balancer do. Timings keep the defaults' proportions
 * (refresh 5 s, TTL 3 × refresh, FENCE_AFTER_MS = refresh, drain window 5 s) at two fifths of them:
 * the time to reconnect and register does not shrink with them, and on a loaded 2-core machine (load
 * average 30) a fifth left too little margin for it.
 */

type Event = PresenceEvent;

const REFRESH_MS = 2_000;
const TTL_MS = 6_000;
const TIMING = { SESSION_REFRESH_MS: String(REFRESH_MS), SESSION_TTL_MS: String(TTL_MS), DRAIN_WINDOW_MS: '2000' };
/** Clients on the edge that is cut off, and on the other one (which must not notice anything). */
const ON_A = scaled(200, 60);
const ON_B = 20;
const POLL_MS = 100;

let redis: RedisServer | null = null;
let proxy: TcpProxy | null = null;
let stack: Stack | null = null;
let sse: SseClient | null = null;
let sdkClients: PresenceClient[] = [];
let wireClients: WireClient[] = [];
let polling: { stop(): Promise<void> } | null = null;

afterEach(async () => {
  await polling?.stop();
  redis?.thaw();
  proxy?.resume();
  sse?.close();
  await Promise.all(sdkClients.map((client) => client.close().catch(() => {})));
  for (const client of wireClients) client.destroy();
  sdkClients = [];
  wireClients = [];
  await stack?.stop();
  await proxy?.close();
  await redis?.kill();
  stack = null;
  proxy = null;
  redis = null;
  polling = null;
});

interface ClientLog {
  client: PresenceClient;
  moved: number[];
  reconnectedAt: number[];
  disconnects: number;
}

/** SDK clients that list A then B; what happens to each connection is logged. */
async function connectSdkClients(a: EdgeProcess, b: EdgeProcess, prefix: string): Promise<Map<string, ClientLog>> {
  const logs = new Map<string, ClientLog>();
  const endpoints = [a, b].map((edge) => ({ host: '127.0.0.1', port: edge.port }));
  for (let i = 0; i < ON_A; i += 1) {
    const clientId = `${prefix}-${i}`;
    const client = createPresenceClient({ clientId, endpoints, backoffBaseMs: 100, backoffCapMs: 1_000 });
    const log: ClientLog = { client, moved: [], reconnectedAt: [], disconnects: 0 };
    logs.set(clientId, log);
    client.on('disconnected', (info) => {
      log.disconnects += 1;
      if (info.reason === 'moved') log.moved.push(Date.now());
    });
    client.on('connected', (info) => {
      if (info.reconnected) log.reconnectedAt.push(Date.now());
    });
    client.on('error', () => {});
    sdkClients.push(client);
  }
  await Promise.all(sdkClients.map((client) => client.connect()));
  return logs;
}

/**
 * Redis, the proxy in front of it for edge A, the API as witness, edge A behind the proxy and edge B
 * direct; SDK clients on A, raw clients on B, all online; an SSE subscriber and a poller running.
 */
async function setup(prefix: string) {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start({ port: redis.port });
  stack = await Stack.start({ redisUrl: redis.url, edges: 0, sweepers: 2, env: TIMING });
  const api = stack.apiUrl;
  const witness = { REDIS_WITNESS_URL: `${api}/readyz` };
  const [a, b] = await Promise.all([stack.addEdge({ ...witness, REDIS_URL: proxy.url }), stack.addEdge(witness)]);
  sse = await SseClient.open(`${api}/v1/events`);
  const live = sse;
  await waitFor(() => live.lastEventId !== null, { what: 'SSE open' });
  const logs = await connectSdkClients(a, b, prefix);
  for (let i = 0; i < ON_B; i += 1) wireClients.push((await WireClient.session(b.port, `${prefix}-b-${i}`)).client);
  const everyone = [...logs.keys(), ...wireClients.map((_, i) => `${prefix}-b-${i}`)];
  await waitFor(() => live.events<Event>().filter((e) => e.type === 'online').length === everyone.length, {
    timeoutMs: 20_000,
    what: `${everyone.length} online events`,
  });
  const poll = pollPresence(api, everyone);
  polling = poll;
  await waitFor(() => poll.polls() >= 3, { what: 'the poller to run' });
  return { api, a, b, live, logs, everyone, onlineBefore: live.events<Event>().length, poll };
}

/**
 * What a user polling the API sees: every POLL_MS, whether each client is online. Returns, per
 * client, how long it was shown offline (from the first poll that said so to the next that did not).
 */
function pollPresence(api: string, clientIds: string[]): { stop(): Promise<void>; offlineMs(): Map<string, number>; polls(): number } {
  const offlineMs = new Map<string, number>();
  const offlineSince = new Map<string, number>();
  let polls = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      try {
        const response = await fetch(`${api}/v1/presence/query`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ clientIds }),
          signal: AbortSignal.timeout(2_000),
        });
        if (response.ok) {
          polls += 1;
          const now = Date.now();
          for (const result of ((await response.json()) as { results: { clientId: string; online: boolean }[] }).results) {
            const since = offlineSince.get(result.clientId);
            if (!result.online && since === undefined) offlineSince.set(result.clientId, now);
            if (result.online && since !== undefined) {
              offlineSince.delete(result.clientId);
              offlineMs.set(result.clientId, (offlineMs.get(result.clientId) ?? 0) + now - since);
            }
          }
        }
      } catch {
        // The API answers 503 or not at all while Redis is away: nothing is shown then.
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
    offlineMs() {
      const total = new Map(offlineMs);
      const now = Date.now();
      for (const [clientId, since] of offlineSince) total.set(clientId, (total.get(clientId) ?? 0) + now - since);
      return total;
    },
    polls: () => polls,
  };
}

/** The deadline (Redis time) of each client's session, read from Redis itself. */
async function deadlinesOf(url: string, prefix: string, sessions: Map<string, string>): Promise<Map<string, number>> {
  const keys = new KeySpace(prefix, 4);
  const redis = new Redis(url);
  try {
    const deadlines = new Map<string, number>();
    for (const [clientId, sessionId] of sessions) {
      const score = await redis.zscore(keys.shard(keys.shardOf(clientId)).deadlines, sessionMember(sessionId, clientId));
      deadlines.set(clientId, Number(score));
    }
    return deadlines;
  } finally {
    redis.disconnect();
  }
}

function metric(edge: EdgeProcess, name: string): Promise<number> {
  return metricValue(`http://127.0.0.1:${edge.env.EDGE_METRICS_PORT}/metrics`, name);
}

function readyz(edge: EdgeProcess): Promise<Response> {
  return fetch(`http://127.0.0.1:${edge.env.EDGE_METRICS_PORT}/readyz`);
}

const until = (ms: number, what: string) => {
  const end = Date.now() + ms;
  return waitFor(() => Date.now() >= end, { timeoutMs: ms + 5_000, what });
};

describe('an edge cut off from Redis alone', () => {
  it('moves its clients before their sessions expire: no false offline, none shown offline, no stale session once healed', async () => {
    const { api, a, b, live, logs, everyone, onlineBefore, poll } = await setup('cut');
    const onA = [...logs.keys()];

    // Longer than the TTL: every old session's deadline passes while the link is cut.
    const partitionMs = scaled(20_000, TTL_MS + 2_000);
    const sessionsOnA = new Map([...logs].map(([clientId, log]) => [clientId, log.client.sessionId ?? '']));
    proxy?.hold();
    const cutAt = Date.now();
    // The deadlines Redis holds for A's sessions: A can renew none of them from now on.
    const oldDeadlines = await deadlinesOf(redis?.url ?? '', stack?.prefix ?? '', sessionsOnA);

    // A notices, asks the witness, stops accepting and moves everyone to B.
    await waitFor(() => [...logs.values()].every((log) => log.reconnectedAt.length > 0), {
      timeoutMs: 15_000,
      what: 'every client of A to reconnect elsewhere',
    });
    const movedAfter = [...logs.values()].map((log) => (log.moved[0] ?? NaN) - cutAt).sort((x, y) => x - y);
    const backAfter = [...logs.values()].map((log) => (log.reconnectedAt[0] ?? NaN) - cutAt).sort((x, y) => x - y);
    // Each client's new session on B was registered before its old one's deadline: it never looked offline.
    const margins: number[] = [];
    for (const clientId of onA) {
      const view = (await (await fetch(`${api}/v1/presence/${clientId}`)).json()) as { sessions: { node: string; connectedAt: number }[] };
      const onB = view.sessions.find((session) => session.node === b.name);
      margins.push((oldDeadlines.get(clientId) ?? NaN) - (onB?.connectedAt ?? NaN));
    }
    margins.sort((x, y) => x - y);
    expect(margins[0]).toBeGreaterThan(0);
    const notReady = await readyz(a);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { error: { message: string } }).error.message).toMatch(
      /^cut off from Redis while REDIS_WITNESS_URL/,
    );
    expect(await canConnect(a.port)).toBe(false);
    expect((await readyz(b)).status).toBe(200);

    // The partition lasts several TTLs: the sweeper expires A's old sessions meanwhile, silently.
    await until(partitionMs - (Date.now() - cutAt), 'the partition to last');
    proxy?.resume();
    const healedAt = Date.now();
    await waitFor(async () => (await readyz(a)).status === 200, { timeoutMs: 10_000, what: 'A to be ready again' });
    const readyAfterHealMs = Date.now() - healedAt;
    // A serves again: a new client there is registered. Its BYE, written behind everything A held, closes the window.
    const probe = (await WireClient.session(a.port, 'probe-after-heal')).client;
    await waitFor(() => live.events<Event>().some((e) => e.clientId === 'probe-after-heal' && e.type === 'online'), {
      what: "the probe's online event",
    });
    await until(TTL_MS + REFRESH_MS, 'deadlines and sweeps after the heal');
    await probe.bye();
    await waitFor(() => live.events<Event>().some((e) => e.clientId === 'probe-after-heal' && e.type === 'offline'), {
      what: "the probe's offline event",
    });
    await poll.stop();

    const events = live.events<Event>().filter((e) => e.clientId !== 'probe-after-heal');
    const falseOffline = events.filter((e) => e.type === 'offline');
    const afterBaseline = events.slice(onlineBefore);
    const offlineMs = [...poll.offlineMs().values()];
    expect(falseOffline).toEqual([]);
    // No event at all for anyone after the baseline: moving wrote none, healing none, and nothing doubled.
    expect(afterBaseline).toEqual([]);
    expect(offlineMs.filter((ms) => ms > 0)).toEqual([]);
    expect(wireClients.filter((client) => client.ended)).toEqual([]);
    expect([...logs.values()].filter((log) => log.moved.length !== 1 || log.disconnects !== 1)).toEqual([]);
    // No stale session back: each client of A is online through B only.
    const stale: string[] = [];
    for (const clientId of onA) {
      const view = (await (await fetch(`${api}/v1/presence/${clientId}`)).json()) as { online: boolean; sessions: { node: string }[] };
      expect(view.online).toBe(true);
      for (const session of view.sessions) if (session.node !== b.name) stale.push(clientId);
    }
    expect(stale).toEqual([]);
    expect(await metric(a, 'presence_edge_fences_total')).toBe(1);
    expect(await metric(a, 'presence_edge_fenced')).toBe(0);

    recordFigure({
      id: 'edge-partition',
      fault: 'One edge cut off from Redis (a partition: bytes held, not lost), everything else fine',
      test: `${ON_A} SDK clients on edge A (endpoints A, B), ${ON_B} on B; a TCP proxy holds every byte between A and Redis for ${partitionMs} ms (TTL ${TTL_MS} ms, refresh ${REFRESH_MS} ms, FENCE_AFTER_MS = refresh); the API's /readyz is the witness; an SSE subscriber counts events, a poller asks the API every ${POLL_MS} ms`,
      measured: {
        'false offline events': falseOffline.length,
        'clients shown offline over HTTP (polls every 100 ms)': `${offlineMs.filter((ms) => ms > 0).length}/${everyone.length}`,
        'longest time shown offline (ms)': Math.max(0, ...offlineMs),
        'BYE moved received, first / last after the cut (ms)': `${movedAfter[0]} / ${movedAfter.at(-1)}`,
        'reconnected on B, p50 / max after the cut (ms)': `${percentile(backAfter, 50)} / ${backAfter.at(-1)}`,
        'registered on B before the old deadline by, min / p50 (ms)': `${margins[0]} / ${percentile(margins, 50)}`,
        reconnects: `${backAfter.length} (one per client of A)`,
        'clients of B disconnected': wireClients.filter((client) => client.ended).length,
        'events written after the cut, healing included (duplicates, stale sessions)': afterBaseline.length,
        'A ready again after the heal (ms)': readyAfterHealMs,
      },
    });
  });
});

describe('Redis away for everyone, with the same setup', () => {
  it('is an outage, not a partition: no BYE, no false offline, every connection kept', async () => {
    const { a, b, live, logs, onlineBefore, poll } = await setup('frozen');

    // Frozen, not killed: every edge's writes hang exactly as A's did behind the proxy.
    const outageMs = scaled(20_000, TTL_MS + 1_000);
    redis?.freeze();
    const frozenAt = Date.now();
    await waitFor(() => /an outage, not a partition/.test(a.log()) && /an outage, not a partition/.test(b.log()), {
      timeoutMs: 15_000,
      what: 'both edges to ask the witness and hear Redis is away for it too',
    });
    await until(outageMs - (Date.now() - frozenAt), 'the outage to last');
    redis?.thaw();
    const thawedAt = Date.now();
    // The sweeper's hold-off (TTL + refresh + reconnection delay after the stall) and some sweeps after it, in which no one may expire.
    await until(TTL_MS + REFRESH_MS + MAX_RETRY_DELAY_MS + 1_500, 'the hold-off after the outage, and sweeps');
    await poll.stop();

    const after = live.events<Event>().slice(onlineBefore);
    const offlineMs = [...poll.offlineMs().values()];
    const disconnects = [...logs.values()].reduce((sum, log) => sum + log.disconnects, 0) + wireClients.filter((c) => c.ended).length;
    expect(after).toEqual([]);
    expect(disconnects).toBe(0);
    expect(offlineMs.filter((ms) => ms > 0)).toEqual([]);
    expect([await metric(a, 'presence_edge_fences_total'), await metric(b, 'presence_edge_fences_total')]).toEqual([0, 0]);
    expect((await readyz(a)).status).toBe(200);

    recordFigure({
      id: 'edge-partition-outage',
      fault: 'Redis away for every edge (frozen with SIGSTOP), same setup as the partition',
      test: `${ON_A} SDK clients on edge A (behind the proxy, not cut), ${ON_B} on edge B; B, the sweepers and the API direct; Redis frozen for ${outageMs} ms (TTL ${TTL_MS} ms), then thawed; both edges suspect after FENCE_AFTER_MS and ask the witness`,
      measured: {
        'BYE moved sent (drain storm)': [...logs.values()].reduce((sum, log) => sum + log.moved.length, 0),
        'connections dropped': disconnects,
        'false offline events': after.filter((e) => e.type === 'offline').length,
        'events written after the outage began': after.length,
        'clients shown offline over HTTP': offlineMs.filter((ms) => ms > 0).length,
        'fences (edge A / B)': '0 / 0',
        'quiet period after the thaw (ms)': Date.now() - thawedAt,
      },
    });
  });
});
