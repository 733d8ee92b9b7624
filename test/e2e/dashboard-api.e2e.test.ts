import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dashboardChannelsSchema,
  dashboardClientChannelsSchema,
  dashboardHistorySchema,
  dashboardNodesSchema,
  dashboardWebhooksSchema,
} from '../../services/api/src/routes/dashboard-router.js';
import { fetchFresh } from '../support/fetch-fresh.js';
import { FAST_TIMING, Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const version = (service: string) =>
  (JSON.parse(readFileSync(`${ROOT}services/${service}/package.json`, 'utf8')) as { version: string }).version;
const SAMPLE_MS = 200;

let stack: Stack;
const clients: WireClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({
    redisUrl: testRedisUrl(),
    edges: 1,
    sweepers: 2,
    env: { DASHBOARD_SAMPLE_MS: String(SAMPLE_MS), WEBHOOK_ALLOW_PRIVATE: 'on' },
  });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await stack?.stop();
});

const get = async (path: string) => {
  const res = await fetchFresh(`${stack.apiUrl}${path}`);
  expect(res.status, path).toBe(200);
  return await res.json();
};
const nodes = async () => dashboardNodesSchema.parse(await get('/v1/dashboard/nodes'));

describe("the dashboard's reads", () => {
  it('serves the page under a strict Content-Security-Policy, and settings.json says whether it must ask for a token', async () => {
    for (const path of ['/dashboard', '/dashboard/']) {
      const page = await fetchFresh(`${stack.apiUrl}${path}`);
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'; script-src 'self'");
      expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js"></script>');
    }
    const script = await fetchFresh(`${stack.apiUrl}/dashboard/app.js`);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(await get('/dashboard/settings.json')).toEqual({ authRequired: false, maxStreamChannels: 50 });
  });

  it("ranks the busiest channels as their occupancy says, and gives a client's channels with its state there", async () => {
    // Gone (BYE) at the end: the history test below counts exactly one client.
    const members: WireClient[] = [];
    const joined = async (clientId: string, ...frames: string[]) => {
      const { client } = await WireClient.session(stack.edges[0]!.port, clientId);
      clients.push(client);
      members.push(client);
      for (const frame of frames) {
        client.send(frame);
        expect(await client.nextLine()).toMatch(/^JOINED /);
      }
      return client;
    };
    await joined('dash-ch-ann', 'JOIN dash:big {"role":"host"}', 'JOIN dash:small');
    await joined('dash-ch-ann', 'JOIN dash:big');
    await joined('dash-ch-bob', 'JOIN dash:big');

    const busiest = dashboardChannelsSchema.parse(await get('/v1/dashboard/channels?limit=2'));
    expect(busiest).toEqual({
      channels: [
        { channel: 'dash:big', clients: 2, sessions: 3 },
        { channel: 'dash:small', clients: 1, sessions: 1 },
      ],
      scanned: 2,
      complete: true,
    });
    const occupancy = (await (
      await fetchFresh(`${stack.apiUrl}/v1/channels/occupancy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channels: ['dash:big', 'dash:small'] }),
      })
    ).json()) as { channels: unknown[] };
    expect(occupancy.channels).toEqual(busiest.channels);

    const ann = dashboardClientChannelsSchema.parse(await get('/v1/dashboard/clients/dash-ch-ann/channels'));
    expect(ann).toEqual({
      clientId: 'dash-ch-ann',
      channels: [
        {
          channel: 'dash:big',
          clients: 2,
          sessions: 3,
          joined: [
            expect.objectContaining({ node: stack.edges[0]!.name, state: { role: 'host' } }),
            expect.objectContaining({ node: stack.edges[0]!.name, state: null }),
          ],
        },
        { channel: 'dash:small', clients: 1, sessions: 1, joined: [expect.objectContaining({ state: null })] },
      ],
    });
    expect(await get('/v1/dashboard/clients/dash-ch-nobody/channels')).toEqual({ clientId: 'dash-ch-nobody', channels: [] });

    for (const [path, code] of [
      ['/v1/dashboard/channels?limit=0', 'bad_request'],
      ['/v1/dashboard/channels?limit=x', 'bad_request'],
      ['/v1/dashboard/clients/a%20b/channels', 'bad_client_id'],
    ] as const) {
      const res = await fetchFresh(`${stack.apiUrl}${path}`);
      expect([res.status, ((await res.json()) as { error: { code: string } }).error.code], path).toEqual([400, code]);
    }
    await Promise.all(members.map((client) => client.bye()));
  });

  it('lists webhook endpoints without their secrets or query strings', async () => {
    const created = await fetchFresh(`${stack.apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/in?token=receiver-secret' }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const answer = dashboardWebhooksSchema.parse(await get('/v1/dashboard/webhooks'));
    expect(answer.webhooks).toEqual([
      { id, url: 'http://127.0.0.1:9/in', events: ['online', 'offline'], queued: 0, deadLetters: 0, lagMs: 0 },
    ]);
    expect(JSON.stringify(answer)).not.toContain('secret');
  });

  it('lists the edges and the sweepers with their versions; a killed sweeper turns dead, a stopped one leaves', async () => {
    const listed = await waitFor(async () => {
      const answer = await nodes();
      return answer.edges.length === 1 && answer.sweepers.length === 2 && answer;
    });
    expect(listed.edges[0]).toMatchObject({ node: stack.edges[0]!.name, alive: true, version: version('edge') });
    expect(listed.sweepers.map(({ node, alive, sessions, version: v }) => ({ node, alive, sessions, version: v }))).toEqual(
      stack.sweepers.map((sweeper) => ({ node: sweeper.name, alive: true, sessions: 0, version: version('sweeper') })),
    );
    for (const node of [...listed.edges, ...listed.sweepers]) expect(listed.now - node.lastSeenAt).toBeLessThan(2_000);

    const [killed, stopped] = stack.sweepers as [(typeof stack.sweepers)[0], (typeof stack.sweepers)[0]];
    await killed.stop('SIGKILL');
    await stopped.stop('SIGTERM');
    // Stopped: gone at once. Killed: dead once its TTL passed, with its last beat.
    expect((await nodes()).sweepers.map((sweeper) => sweeper.node)).toEqual([killed.name]);
    const ttlMs = Number(FAST_TIMING.SESSION_TTL_MS);
    const dead = await waitFor(async () => (await nodes()).sweepers.find((sweeper) => !sweeper.alive), {
      timeoutMs: ttlMs + 2_000,
      what: 'the killed sweeper to turn dead',
    });
    expect(dead.node).toBe(killed.name);
  });

  it('keeps one sample per DASHBOARD_SAMPLE_MS with the counts', async () => {
    const { client } = await WireClient.session(stack.edges[0]!.port, 'dash-api-ann');
    clients.push(client);
    const history = await waitFor(
      async () => {
        const answer = dashboardHistorySchema.parse(await get('/v1/dashboard/history'));
        return answer.samples.some((sample) => sample.onlineClients === 1 && sample.sessions === 1) && answer;
      },
      { what: 'a sample counting the client' },
    );
    expect(history).toMatchObject({ intervalMs: SAMPLE_MS, keepMs: 3_600_000 });
    const ats = history.samples.map((sample) => sample.at);
    for (const at of ats) expect(at % SAMPLE_MS).toBe(0);
    expect(new Set(ats).size).toBe(ats.length);
  });
});
