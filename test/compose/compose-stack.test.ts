import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClientPresence, PresenceEvent, PresenceStats, QueryResult } from '@presence/client';
import { effectiveSessionTtlMs, livenessSettings } from '@presence/config';
import { eventWrittenAt } from '@presence/wire-format';
import { MAX_RETRY_DELAY_MS } from '@presence/presence-store';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sweeperConfigSchema } from '../../services/sweeper/src/config.js';
import { fetchFresh } from '../support/fetch-fresh.js';
import { freePort } from '../support/free-port.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { UpgradeRefused, WsClient } from '../support/ws-client.js';
import { ComposeProject, type ContainerState } from './compose-project.js';

/**
 * The compose stack as a user drives it (README, Set up): `docker compose up --build`, a client with
 * a minted token through HAProxy, the API with the bearer token from .env, scaling, a killed edge,
 * and `down` with clients connected. Real Docker, real HAProxy, the production timings of
 * docker-compose.yml. Run with `npm run test:compose` (not part of `npm test`).
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NAME = `presence-test-${randomUUID().slice(0, 8)}`;
const API_TOKEN = /^PRESENCE_API_TOKEN=(.+)$/m.exec(readFileSync(`${ROOT}.env`, 'utf8'))?.[1]?.trim() ?? '';
const auth = { authorization: `Bearer ${API_TOKEN}` };
/** The services the stack starts, and how many of each (`deploy.replicas`). */
const STACK = { redis: 1, lb: 1, edge: 2, sweeper: 2, api: 1, webhooks: 2 };
/** Figures printed at the end and written to .test-logs/compose/<project>/figures.json. */
const figures: Record<string, number | string> = {};

let compose: ComposeProject;
let edgePort: number;
let edgeWsPort: number;
let apiUrl: string;
let sse: SseClient | null = null;
let downDone = false;
const clients = new Map<string, WireClient>();
const tokens = new Map<string, string>();
const testStarted = performance.now();

// The steps build on each other: once one fails, the rest are skipped rather than failing confusingly.
let broken = false;
beforeEach((context) => {
  if (broken) context.skip();
  context.onTestFailed(() => {
    broken = true;
  });
});

beforeAll(async () => {
  edgePort = await freePort();
  edgeWsPort = await freePort();
  const apiPort = await freePort();
  apiUrl = `http://127.0.0.1:${apiPort}`;
  compose = new ComposeProject({
    name: NAME,
    cwd: ROOT,
    env: { PRESENCE_EDGE_PORT: String(edgePort), PRESENCE_EDGE_WS_PORT: String(edgeWsPort), PRESENCE_API_PORT: String(apiPort) },
    logDir: `${ROOT}.test-logs/compose/${NAME}`,
  });
  await compose.compose(['version']).catch((error: unknown) => {
    throw new Error(`docker compose is not available (start an engine with ../shared/docker-sandbox/setup): ${String(error)}`);
  });
  expect(API_TOKEN.length).toBeGreaterThanOrEqual(16);
});

afterAll(async () => {
  sse?.close();
  for (const client of clients.values()) client.destroy();
  if (compose === undefined) return;
  if (!downDone) {
    // Evidence first, then leave nothing behind, whatever failed.
    const logs = await compose.compose(['logs', '--no-color', '--timestamps']).catch((error: unknown) => ({ stdout: String(error) }));
    writeFileSync(`${compose.logDir}/services.log`, logs.stdout);
    await compose.compose(['down', '-v', '--remove-orphans', '--timeout', '5']).catch(() => {});
  }
  await compose.close();
  figures['whole test (s)'] = seconds(performance.now() - testStarted);
  writeFileSync(`${compose.logDir}/figures.json`, `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`compose test figures (${NAME}):\n${JSON.stringify(figures, null, 2)}`);
}, 120_000);

const seconds = (ms: number) => Math.round(ms / 100) / 10;

async function api<T>(path: string): Promise<T> {
  const res = await fetchFresh(`${apiUrl}${path}`, { headers: auth });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The node a session is registered on, once Redis has it (WELCOME comes before the batched write). */
function nodeOf(clientId: string, sessionId: string): Promise<string> {
  return waitFor(
    async () => (await api<ClientPresence>(`/v1/presence/${clientId}`)).sessions.find((s) => s.sessionId === sessionId)?.node,
    {
      timeoutMs: 10_000,
      what: `${clientId}'s session in the API`,
    },
  );
}

/** Mints tokens inside an edge container, all in one `exec` (each `docker compose exec` costs about a second). */
async function mintTokens(ids: string[]): Promise<void> {
  const script = 'for id in "$@"; do node services/edge/dist/mint-token.js "$id"; done';
  const lines = (await compose.exec('edge', ['sh', '-c', script, 'mint', ...ids])).trim().split('\n');
  expect(lines).toHaveLength(ids.length);
  ids.forEach((id, i) => tokens.set(id, lines[i] as string));
}

/** HELLO with the client's token through HAProxy; heartbeats every 2 s (the server asks for 10 s). */
async function connect(clientId: string): Promise<{ client: WireClient; sessionId: string }> {
  const client = await WireClient.connect(edgePort);
  client.send(`HELLO ${clientId} ${tokens.get(clientId)}`);
  const welcome = await client.nextLine(10_000);
  const match = /^WELCOME (\S+) \d+ \d+$/.exec(welcome);
  if (match === null) throw new Error(`${clientId}: expected WELCOME, got ${JSON.stringify(welcome)}`);
  client.startHeartbeat(2_000);
  clients.set(clientId, client);
  return { client, sessionId: match[1] as string };
}

/** Whether each service has exactly `want[service]` containers running and healthy (or running, for lb: it has no check). */
function ready(containers: ContainerState[], want: Record<string, number>): boolean {
  const up = containers.filter((c) => c.running && (c.health === null || c.health === 'healthy'));
  return Object.entries(want).every(([service, count]) => up.filter((c) => c.service === service).length === count);
}

/** Each node of /v1/stats with its edge container: NODE_ID is `<container hostname>-<pid>` (docker-compose.yml leaves it unset). */
function nodeIdsOf(containers: ContainerState[], stats: PresenceStats): Map<string, ContainerState> {
  const byNode = new Map<string, ContainerState>();
  for (const node of stats.nodes) {
    const container = containers.find((c) => c.service === 'edge' && node.node.startsWith(`${c.hostname}-`));
    if (container !== undefined) byNode.set(node.node, container);
  }
  return byNode;
}

const events = () => sse?.events<PresenceEvent>() ?? [];

describe('docker compose stack', () => {
  it('up --build builds the image and starts every service', async () => {
    const up = await compose.compose(['up', '-d', '--build'], 900_000);
    figures['up --build (s)'] = seconds(up.ms);
  }, 900_000);

  it('every service becomes healthy (deploy.replicas: 2 edges, 2 sweepers)', async () => {
    const started = performance.now();
    const containers = await waitFor(
      async () => {
        const all = await compose.containers();
        return ready(all, STACK) && all;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `every service healthy: ${JSON.stringify(STACK)}`,
      },
    );
    figures['healthy after up (s)'] = seconds(performance.now() - started);
    expect(containers.filter((c) => c.service === 'edge')).toHaveLength(2);
    expect(containers.filter((c) => c.service === 'sweeper')).toHaveLength(2);
  }, 150_000);

  it('a client with a minted token connects through HAProxy and is online over HTTP with the bearer token', async () => {
    sse = await SseClient.open(`${apiUrl}/v1/events`, undefined, auth);
    expect(sse.status).toBe(200);
    await waitFor(() => sse?.lastEventId !== null, { what: 'the SSE stream to open' });

    // Exactly the README's command.
    const token = (await compose.exec('edge', ['node', 'services/edge/dist/mint-token.js', 'alice'])).trim();
    tokens.set('alice', token);
    const { sessionId } = await connect('alice');

    const anonymous = await fetchFresh(`${apiUrl}/v1/presence/alice`);
    expect(anonymous.status).toBe(401);
    const node = await nodeOf('alice', sessionId);
    const view = await api<ClientPresence>('/v1/presence/alice');
    expect(view.online).toBe(true);
    const stats = await api<PresenceStats>('/v1/stats');
    expect(nodeIdsOf(await compose.containers(), stats).has(node)).toBe(true);
  }, 60_000);

  it('a WebSocket client through HAProxy on the WebSocket port: token in the URL, a same-host page allowed, another site 403', async () => {
    const token = (await compose.exec('edge', ['node', 'services/edge/dist/mint-token.js', 'web-dana'])).trim();
    const url = `ws://127.0.0.1:${edgeWsPort}/v1/ws?token=${token}`;
    const refused = await WsClient.connect(url, { origin: 'https://elsewhere.example' }).then(
      (client) => (client.destroy(), 101),
      (error: unknown) => {
        if (error instanceof UpgradeRefused) return error.status;
        throw error;
      },
    );
    expect(refused).toBe(403);
    // The page the API serves, as a browser would load it from the same host.
    const page = await fetchFresh(`${apiUrl}/examples/presence.html`);
    expect(page.status).toBe(200);
    await page.text();
    const ws = await WsClient.connect(url, { origin: apiUrl });
    ws.send('HELLO web-dana');
    expect(await ws.next(5_000)).toMatch(/^WELCOME /);
    await waitFor(async () => (await api<ClientPresence>('/v1/presence/web-dana')).online, { what: 'web-dana online over HTTP' });
    expect(await ws.bye()).toEqual({ code: 1000, reason: '' });
  }, 60_000);

  it('serves the dashboard page and its script from the image (README: open /dashboard)', async () => {
    const page = await fetchFresh(`${apiUrl}/dashboard`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('app.js');
    const script = await fetchFresh(`${apiUrl}/dashboard/app.js`);
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(10_000);
  });

  it('SSE delivers its online and then its offline event', async () => {
    await clients.get('alice')?.bye();
    clients.delete('alice');
    const alice = await waitFor(
      () => {
        const own = events().filter((e) => e.clientId === 'alice');
        return own.length === 2 && own;
      },
      { timeoutMs: 10_000, what: "alice's online and offline events" },
    );
    expect(alice.map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'leave'],
    ]);
  }, 30_000);

  const spread = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  const nodes = new Map<string, string>();

  it('up -d --scale edge=3: /v1/stats shows 3 live nodes and new connections spread over the 3 edges', async () => {
    await mintTokens(['probe', 'sentinel', ...spread]);
    const scaled = await compose.compose(['up', '-d', '--scale', 'edge=3'], 300_000);
    figures['up -d --scale edge=3 (s)'] = seconds(scaled.ms);
    const stats = await waitFor(
      async () => {
        const s = await api<PresenceStats>('/v1/stats');
        return s.nodes.filter((n) => n.alive).length === 3 && s;
      },
      { timeoutMs: 30_000, what: '3 live nodes in /v1/stats' },
    );
    const byNode = nodeIdsOf(await compose.containers(), stats);
    expect(byNode.size).toBe(3);

    // HAProxy finds the new replica by DNS (re-resolved every 5 s) and a passing check: wait until a
    // connection lands on it. Each probe leaves with BYE, so all edges hold the same (zero) count.
    const third = [...byNode].find(([, c]) => c.number === 3)?.[0] as string;
    await waitFor(
      async () => {
        const { client, sessionId } = await connect('probe');
        try {
          return (await nodeOf('probe', sessionId)) === third;
        } finally {
          await client.bye();
          clients.delete('probe');
        }
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'HAProxy to route a connection to the third edge' },
    );

    for (const id of spread) {
      const { sessionId } = await connect(id);
      nodes.set(id, await nodeOf(id, sessionId));
    }
    // balance leastconn: six connections over three idle edges land two on each.
    const perNode = [...byNode.keys()].map((node) => [...nodes.values()].filter((n) => n === node).length);
    figures['6 connections over 3 edges'] = perNode.join('/');
    expect(new Set(nodes.values()).size).toBe(3);
    // Docker's own health check of the new replica passes too (it runs every 10 s, hence last).
    await waitFor(async () => ready(await compose.containers(), { ...STACK, edge: 3 }), {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: '3 healthy edges',
    });
  }, 300_000);

  it('docker kill of one edge: its clients are expired within SESSION_TTL_MS + SWEEP_INTERVAL_MS of its last refresh; the others are untouched', async () => {
    const containers = await compose.containers();
    // The bound uses the settings the containers actually run with.
    const edgeEnv = containers.find((c) => c.service === 'edge')?.env ?? {};
    const sweeperEnv = containers.find((c) => c.service === 'sweeper')?.env ?? {};
    const ttlMs = effectiveSessionTtlMs(z.object(livenessSettings).parse(edgeEnv));
    const sweeper = sweeperConfigSchema.parse(sweeperEnv);
    const sweepIntervalMs = sweeper.SWEEP_INTERVAL_MS;
    // The bound holds in steady state: a sweeper holds expiry off while Redis is younger than its
    // hold-off (SWEEP_HOLDOFF_MS, default TTL + refresh + the 2 s reconnection delay; docs/data-model.md). Usually long past.
    const holdoffMs = sweeper.SWEEP_HOLDOFF_MS > 0 ? sweeper.SWEEP_HOLDOFF_MS : ttlMs + sweeper.SESSION_REFRESH_MS + MAX_RETRY_DELAY_MS;
    const redisStarted = containers.find((c) => c.service === 'redis')?.startedAt ?? Date.now();
    await waitFor(() => Date.now() > redisStarted + holdoffMs + 1_000, {
      timeoutMs: holdoffMs + 5_000,
      what: "the sweepers' start-up hold-off",
    });

    const victimNode = nodes.get('c1') as string;
    const victim = nodeIdsOf(containers, await api<PresenceStats>('/v1/stats')).get(victimNode) as ContainerState;
    const doomed = spread.filter((id) => nodes.get(id) === victimNode);
    const survivors = spread.filter((id) => nodes.get(id) !== victimNode);
    expect(doomed.length).toBeGreaterThan(0);
    expect(survivors.length).toBeGreaterThan(0);

    const before = events().length;
    const killedAt = Date.now();
    await compose.docker(['kill', victim.id]);

    // A session's lastSeenAt is its latest refresh (deadline - TTL). It no longer moves once the edge
    // is dead; the largest value seen before the session expires is the last refresh.
    const lastRefresh = new Map<string, number>();
    const expired = await waitFor(
      async () => {
        for (const id of doomed) {
          const view = await api<ClientPresence>(`/v1/presence/${id}`);
          for (const s of view.sessions) lastRefresh.set(id, Math.max(lastRefresh.get(id) ?? 0, s.lastSeenAt));
        }
        const after = events().slice(before);
        return doomed.every((id) => after.some((e) => e.clientId === id && e.type === 'offline')) && after;
      },
      { timeoutMs: ttlMs + sweepIntervalMs + 30_000, intervalMs: 100, what: "the killed edge's clients to go offline" },
    );
    figures['kill -> expired events, max (s)'] = seconds(Date.now() - killedAt);
    for (const id of doomed) {
      const event = expired.find((e) => e.clientId === id) as PresenceEvent;
      expect(event).toMatchObject({ type: 'offline', reason: 'expired', node: victimNode });
      const refreshed = lastRefresh.get(id) as number;
      expect(refreshed).toBeGreaterThan(0);
      // The event's `at` is when the edge last vouched for the session; Redis time on both sides, the
      // event is written never before the deadline and at most one sweep interval after it.
      expect(event.at).toBe(refreshed);
      const written = eventWrittenAt(event.id) as number;
      expect(written).toBeGreaterThanOrEqual(refreshed + ttlMs);
      expect(written).toBeLessThanOrEqual(refreshed + ttlMs + sweepIntervalMs);
    }
    const lag = Math.max(
      ...doomed.map(
        (id) => (eventWrittenAt((expired.find((e) => e.clientId === id) as PresenceEvent).id) as number) - (lastRefresh.get(id) as number),
      ),
    );
    figures['last refresh -> expired, max (ms)'] = lag;
    figures['bound: SESSION_TTL_MS + SWEEP_INTERVAL_MS (ms)'] = ttlMs + sweepIntervalMs;
    figures['clients on the killed edge / on the others'] = `${doomed.length}/${survivors.length}`;

    // Sentinel: a new client's online event closes the window in which a survivor's event could show.
    await connect('sentinel');
    await waitFor(() => events().some((e) => e.clientId === 'sentinel'), { timeoutMs: 10_000, what: "the sentinel's online event" });
    const untilSentinel = events().slice(before);
    expect(untilSentinel.filter((e) => survivors.includes(e.clientId))).toEqual([]);
    const query = await fetchFresh(`${apiUrl}/v1/presence/query`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ clientIds: survivors }),
    });
    const { results } = (await query.json()) as { results: QueryResult[] };
    expect(results.map((r) => [r.clientId, r.online])).toEqual(survivors.map((id) => [id, true]));
    for (const id of survivors) {
      const client = clients.get(id) as WireClient;
      client.send('PING');
      expect(await client.nextLine(5_000, false)).toBe('PONG');
    }

    // The dead node stays listed, not alive, with the count it last reported (README, /v1/stats).
    await waitFor(
      async () => {
        const stats = await api<PresenceStats>('/v1/stats');
        return stats.nodes.some((n) => n.node === victimNode && !n.alive) && stats.nodes.filter((n) => n.alive).length === 2;
      },
      { timeoutMs: 10_000, what: 'the killed node to show alive: false in /v1/stats' },
    );
    // `docker kill` counts as a manual stop: the restart policy leaves it down.
    expect((await compose.containers()).find((c) => c.id === victim.id)).toMatchObject({ running: false, restartCount: 0 });
    for (const id of doomed) clients.get(id)?.destroy();
    for (const id of doomed) clients.delete(id);
  }, 120_000);

  it('down with clients connected: each gets BYE shutdown through HAProxy, every container exits by itself, nothing is left', async () => {
    const connected = [...clients.entries()];
    expect(connected.length).toBeGreaterThanOrEqual(3);
    // The services' logs up to their last line (the containers and their logs go with `down`).
    const logLines: string[] = [];
    compose.follow(['compose', '-p', NAME, 'logs', '-f', '--no-color', '--timestamps'], (line) => logLines.push(line));
    const running = (await compose.containers()).filter((c) => c.running);

    const since = Math.floor(Date.now() / 1000) - 1;
    const down = compose.compose(['down', '-v'], 120_000);
    const said = await Promise.all(
      connected.map(async ([id, client]) => {
        client.stopHeartbeat();
        const line = await client.nextLine(30_000).catch((error: unknown) => `(${String(error)})`);
        await client.closed;
        return [id, line];
      }),
    );
    const { ms } = await down;
    downDone = true;
    figures['down -v with clients connected (s)'] = seconds(ms);
    writeFileSync(`${compose.logDir}/services.log`, `${logLines.join('\n')}\n`);

    expect(said).toEqual(connected.map(([id]) => [id, 'BYE shutdown']));
    // The daemon's record of the containers' ends during `down`: every one that was running exited 0
    // on its own stop signal (none by Docker's SIGKILL: 137), and lb after the last edge.
    const until = Math.ceil(Date.now() / 1000) + 1;
    const filters = ['--filter', `label=com.docker.compose.project=${NAME}`, '--filter', 'event=die'];
    const recorded = await compose.docker([
      'events',
      '--since',
      String(since),
      '--until',
      String(until),
      ...filters,
      '--format',
      '{{json .}}',
    ]);
    const deaths = recorded.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { timeNano: number; Actor: { Attributes: Record<string, string> } })
      .map((e) => ({
        service: e.Actor.Attributes['com.docker.compose.service'] ?? '',
        exitCode: Number(e.Actor.Attributes.exitCode),
        at: e.timeNano,
      }));
    expect(deaths.map((d) => d.service).sort()).toEqual(running.map((c) => c.service).sort());
    expect(deaths.filter((d) => d.exitCode !== 0)).toEqual([]);
    const lastEdge = Math.max(...deaths.filter((d) => d.service === 'edge').map((d) => d.at));
    expect(deaths.find((d) => d.service === 'lb')?.at).toBeGreaterThan(lastEdge);
    expect(await compose.containers()).toEqual([]);
    const volumes = await compose.docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${NAME}`]);
    expect(volumes.stdout.trim()).toBe('');
    const networks = await compose.docker(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${NAME}`]);
    expect(networks.stdout.trim()).toBe('');
    // Prompt: the edges' drain (DRAIN_WINDOW_MS + DRAIN_TIMEOUT_MS = 10 s at most) plus removal, well
    // under the edges' 20 s stop_grace_period.
    expect(ms).toBeLessThan(20_000);
  }, 150_000);
});
