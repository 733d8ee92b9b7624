import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage, type WatchedPage } from '../support/browser.js';
import { fetchFresh } from '../support/fetch-fresh.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { WEBHOOK_TEST_TIMING } from '../support/webhooks.js';
import { WireClient } from '../support/wire-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The bound the issue sets: a client that connects is in the feed and the counts within this. */
const VISIBLE_WITHIN_MS = 2_000;
const VERSION = (JSON.parse(readFileSync(`${ROOT}services/edge/package.json`, 'utf8')) as { version: string }).version;

let stack: Stack;
let browser: Browser;
let watched: WatchedPage;
let page: Page;
const clients: WireClient[] = [];
const receivers: WebhookReceiver[] = [];

interface Stats {
  onlineClients: number;
  sessions: number;
  nodes: { node: string; sessions: number }[];
}
const apiStats = async () => (await (await fetchFresh(`${stack.apiUrl}/v1/stats`)).json()) as Stats;
const text = (selector: string) => page.locator(selector).innerText();
const feedRow = (clientId: string, type: string) => page.locator(`#feed-body tr[data-client-id="${clientId}"][data-type="${type}"]`);

async function session(clientId: string, state?: object): Promise<{ client: WireClient; sessionId: string }> {
  const opened = await WireClient.session(stack.edges[0]!.port, clientId);
  if (state !== undefined) opened.client.send(`PING ${JSON.stringify(state)}`);
  clients.push(opened.client);
  return opened;
}

/** Sends each JOIN (docs/protocol.md) and waits for its JOINED: Redis holds the membership. */
async function join(client: WireClient, ...frames: string[]): Promise<void> {
  for (const frame of frames) {
    client.send(frame);
    expect(await client.nextLine()).toMatch(/^JOINED /);
  }
}

/** Makes the feed follow these channels, as an operator does: type them, press Enter. */
async function followChannels(names: string): Promise<void> {
  await page.fill('#feed-channels', names);
  await page.press('#feed-channels', 'Enter');
}

const cellsOf = (selector: string) => page.locator(`${selector} td`).allInnerTexts();
const apiJson = async <T>(path: string) => (await (await fetchFresh(`${stack.apiUrl}${path}`)).json()) as T;

beforeAll(async () => {
  stack = await Stack.start({
    redisUrl: testRedisUrl(),
    edges: 1,
    sweepers: 1,
    env: { DASHBOARD_SAMPLE_MS: '500', ...WEBHOOK_TEST_TIMING },
  });
  await stack.addWebhooks({ WEBHOOK_RETRY_FOR_MS: '4000' });
  browser = await launchBrowser();
  watched = await openWatchedPage(browser);
  page = watched.page;
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await Promise.all(receivers.map((receiver) => receiver.stop()));
  await browser?.close();
  await stack?.stop();
});

describe('the dashboard (no API_TOKENS)', () => {
  it('shows the same numbers as the API: online clients, sessions, nodes with their versions, history', async () => {
    // Three clients, one of them on two devices: 3 online, 4 sessions.
    await Promise.all([session('dash-ann'), session('dash-ann'), session('dash-bob'), session('dash-cy')]);
    await waitFor(async () => (await apiStats()).sessions === 4, { what: 'the API to count 4 sessions' });
    await page.goto(`${stack.apiUrl}/dashboard`);
    await waitFor(async () => (await text('#status')) === 'live', { what: 'the event stream to open' });

    const stats = await apiStats();
    expect(stats).toMatchObject({ onlineClients: 3, sessions: 4 });
    await waitFor(async () => (await text('#online-clients')) === '3' && (await text('#sessions')) === '4', {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'the page to show 3 clients and 4 sessions',
    });
    // Nodes: the one edge with the sessions it reported, and the sweeper, each with its version.
    const edge = stack.edges[0]!.name;
    await waitFor(async () => (await page.locator(`#nodes-body tr[data-node="${edge}"] td`).nth(2).innerText()) === '4', {
      what: 'the edge row to show its 4 sessions',
    });
    expect((await apiStats()).nodes).toEqual([expect.objectContaining({ node: edge, sessions: 4 })]);
    const cells = async (node: string) => page.locator(`#nodes-body tr[data-node="${node}"] td`).allInnerTexts();
    expect(await cells(edge)).toEqual(['edge', edge, '4', 'yes', expect.stringMatching(/ago$/), VERSION, expect.any(String)]);
    const sweeper = stack.sweepers[0]!.name;
    await waitFor(async () => (await cells(sweeper)).length > 0, { what: 'the sweeper row' });
    expect(await cells(sweeper)).toEqual(['sweeper', sweeper, '–', 'yes', expect.stringMatching(/ago$/), VERSION, expect.any(String)]);
    expect(await text('#edges-alive')).toBe('1 / 1');
    expect(await text('#sweepers-alive')).toBe('1 / 1');

    // The chart: the API's samples (taken every 500 ms here), drawn by uPlot.
    const history = (await (await fetchFresh(`${stack.apiUrl}/v1/dashboard/history`)).json()) as { samples: { sessions: number }[] };
    expect(history.samples.length).toBeGreaterThan(0);
    await waitFor(async () => /^\d+ samples, one per 0.5 s, kept 60 min$/.test(await text('#history-note')), { what: 'the chart note' });
    expect(await page.locator('#chart canvas').count()).toBe(1);
    expect(watched.errors).toEqual([]);
  });

  it('a client that connects is in the feed and in the counts within 2 s; the lookup shows its state', async () => {
    const before = await apiStats();
    const started = Date.now();
    const { client, sessionId } = await session('dash-dee', { status: 'busy' });
    await waitFor(
      async () =>
        (await feedRow('dash-dee', 'online').count()) === 1 &&
        (await text('#online-clients')) === String(before.onlineClients + 1) &&
        (await text('#sessions')) === String(before.sessions + 1),
      { timeoutMs: VISIBLE_WITHIN_MS, intervalMs: 20, what: 'dash-dee in the feed and the counts' },
    );
    const tookMs = Date.now() - started;
    expect(tookMs).toBeLessThan(VISIBLE_WITHIN_MS);
    console.info(`dashboard: a connecting client was in the feed and the counts after ${tookMs} ms`);
    const after = await apiStats();
    expect([await text('#online-clients'), await text('#sessions')]).toEqual([String(after.onlineClients), String(after.sessions)]);

    await page.fill('#lookup-id', 'dash-dee');
    await page.click('#lookup-form button');
    await waitFor(async () => (await page.locator('#lookup-state').count()) === 1 && (await text('#lookup-state')) === 'online', {
      what: 'the lookup to say online',
    });
    await waitFor(async () => (await page.locator('#lookup-sessions tbody tr').allInnerTexts()).join('').includes('{"status":"busy"}'), {
      what: "the lookup to show the session's state",
    });
    expect(await page.locator('#lookup-sessions tbody tr td').first().innerText()).toBe(sessionId);

    // It leaves: the feed shows why, and the lookup (watching dash-dee) turns offline by itself.
    await client.bye();
    await waitFor(async () => (await feedRow('dash-dee', 'offline').count()) === 1, {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'the offline row',
    });
    expect(await feedRow('dash-dee', 'offline').locator('td').nth(3).innerText()).toBe('leave');
    await waitFor(async () => (await text('#lookup-state')) === 'offline', {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'the lookup to say offline',
    });
    expect(watched.errors).toEqual([]);
  });

  it('filters the feed by type and client id, and holds events while paused', async () => {
    await page.selectOption('#feed-type', 'offline');
    expect(await page.locator('#feed-body tr[data-type="online"]').count()).toBe(0);
    expect(await feedRow('dash-dee', 'offline').count()).toBe(1);
    await page.selectOption('#feed-type', '');
    await page.fill('#feed-client', 'dash-d');
    const rows = await page.locator('#feed-body tr').all();
    const shown = await Promise.all(rows.map((row) => row.getAttribute('data-client-id')));
    expect(shown.length).toBe(2);
    expect(new Set(shown)).toEqual(new Set(['dash-dee']));
    await page.fill('#feed-client', '');

    await page.click('#feed-pause');
    await session('dash-eve');
    // The sentinel: the event did arrive (counted as held), and the feed did not show it.
    await waitFor(async () => (await text('#feed-state')) === 'paused: 1 new', { what: 'the held event to be counted' });
    expect(await feedRow('dash-eve', 'online').count()).toBe(0);
    await page.click('#feed-pause');
    expect(await feedRow('dash-eve', 'online').count()).toBe(1);
    expect(await text('#feed-pause')).toBe('Pause');
    expect(watched.errors).toEqual([]);
  });

  it('shows each webhook endpoint with the queue, lag and dead letters the admin API reports', async () => {
    // A receiver that always fails: the event waits in the queue (lag), then becomes a dead letter.
    const receiver = await WebhookReceiver.start();
    receivers.push(receiver);
    receiver.answer = () => 500;
    const created = await fetchFresh(`${stack.apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.url}?key=secret-in-query`, filter: { clientIdPrefixes: ['hook-'] } }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const row = page.locator(`#webhooks-body tr[data-webhook="${id}"] td`);
    await waitFor(async () => (await row.count()) > 0, { what: 'the webhook row' });
    const [shownId, url, events] = await row.allInnerTexts();
    // The query string (which may carry a receiver's credentials) is not shown.
    expect([shownId, url, events]).toEqual([id, receiver.url, 'online, offline']);

    await session('hook-ann');
    const sameAsApi = async (want: (queued: number, dead: number) => boolean) => {
      const api = (await (await fetchFresh(`${stack.apiUrl}/v1/webhooks/${id}`)).json()) as { queued: number; deadLetters: number };
      const cells = await row.allInnerTexts();
      return want(api.queued, api.deadLetters) && cells[3] === String(api.queued) && cells[5] === String(api.deadLetters) && cells;
    };
    const waiting = await waitFor(() => sameAsApi((queued) => queued === 1), { what: 'the queued event on the page' });
    expect(waiting[4]).toMatch(/^\d+ (ms|s)$/);
    const dead = await waitFor(() => sameAsApi((queued, deadLetters) => queued === 0 && deadLetters === 1), {
      timeoutMs: 15_000,
      what: 'the dead letter on the page',
    });
    expect(dead[4]).toBe('–');
    expect(receiver.requests.length).toBeGreaterThan(0);
    expect(watched.errors).toEqual([]);
  });

  it('a client that joins room:1 is in the busiest channels within 2 s; the feed on room:1 shows its join and leave; the lookup its channel', async () => {
    await followChannels('room:1');
    expect(await page.locator('#feed-type option').allInnerTexts()).toEqual(['all', 'join', 'leave', 'update']);
    expect(await page.locator('#feed-table th', { hasText: 'occupancy' }).isVisible()).toBe(true);
    // Following channels, the feed shows their events only: the client events are gone.
    await waitFor(async () => (await page.locator('#feed-body tr').count()) === 0, { what: 'the client events to leave the feed' });

    // dash-fay joins from two devices: one client, two sessions in room:1.
    const { client, sessionId } = await session('dash-fay');
    const second = await session('dash-fay');
    const started = Date.now();
    await join(client, 'JOIN room:1 {"role":"speaker"}');
    await join(second.client, 'JOIN room:1');
    const row = '#channels-body tr[data-channel="room:1"]';
    await waitFor(async () => (await cellsOf(row)).join(' ') === 'room:1 1 2', {
      timeoutMs: VISIBLE_WITHIN_MS,
      intervalMs: 20,
      what: 'room:1 in the busiest channels with 1 client, 2 sessions',
    });
    const tookMs = Date.now() - started;
    expect(tookMs).toBeLessThan(VISIBLE_WITHIN_MS);
    console.info(`dashboard: a joining client's channel was in the busiest channels after ${tookMs} ms`);
    // The API's numbers: the channel's own occupancy, and the dashboard's ranking.
    expect(await apiJson('/v1/channels/room:1')).toEqual({ channel: 'room:1', clients: 1, sessions: 2 });
    expect(await apiJson('/v1/dashboard/channels')).toEqual({
      channels: [{ channel: 'room:1', clients: 1, sessions: 2 }],
      scanned: 1,
      complete: true,
    });
    expect(await text('#channels-note')).toBe('1 channel with members');

    const joinRow = page.locator('#feed-body tr[data-client-id="dash-fay"][data-type="join"]');
    // One join: the client's first session; the second makes no event.
    await waitFor(async () => (await joinRow.count()) === 1, { timeoutMs: VISIBLE_WITHIN_MS, what: 'the join in the feed' });
    expect(await joinRow.locator('td').allInnerTexts()).toEqual([
      expect.any(String),
      'join',
      'dash-fay',
      'room:1',
      '',
      '1 / 1',
      stack.edges[0]!.name,
      sessionId,
    ]);

    await page.fill('#lookup-id', 'dash-fay');
    await page.click('#lookup-form button');
    const lookupRow = '#lookup-channels tr[data-channel="room:1"]';
    await waitFor(async () => (await page.locator(lookupRow).count()) === 1, { what: 'room:1 in the lookup' });
    expect(await cellsOf(lookupRow)).toEqual(['room:1', '1', '2', expect.stringMatching(/^\d{4}-\d\d-\d\d /), '{"role":"speaker"}']);
    expect(await apiJson('/v1/presence/dash-fay/channels')).toEqual({ clientId: 'dash-fay', channels: ['room:1'] });

    // It leaves: the feed shows the leave with its reason and the occupancy after it, the channel
    // drops out of the busiest, and the lookup (watching dash-fay) follows by itself.
    client.send('LEAVE room:1');
    expect(await client.nextLine()).toBe('LEFT room:1 1 1');
    await waitFor(async () => (await cellsOf(row)).join(' ') === 'room:1 1 1', { timeoutMs: VISIBLE_WITHIN_MS, what: 'one session left' });
    second.client.send('LEAVE room:1');
    expect(await second.client.nextLine()).toBe('LEFT room:1 0 0');
    const leaveRow = page.locator('#feed-body tr[data-client-id="dash-fay"][data-type="leave"]');
    await waitFor(async () => (await leaveRow.count()) === 1, { timeoutMs: VISIBLE_WITHIN_MS, what: 'the leave in the feed' });
    expect((await leaveRow.locator('td').allInnerTexts()).slice(1)).toEqual([
      'leave',
      'dash-fay',
      'room:1',
      'left',
      '0 / 0',
      stack.edges[0]!.name,
      second.sessionId,
    ]);
    await waitFor(async () => (await page.locator(row).count()) === 0, {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'room:1 to leave the busiest',
    });
    expect(await text('#channels-body')).toBe('No channel has members.');
    await waitFor(async () => (await text('#lookup-channel-count')) === '0', {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'the lookup to say no channel',
    });
    // The type filter works on channel events too.
    await page.selectOption('#feed-type', 'leave');
    const shown = await page.locator('#feed-body tr').all();
    expect(await Promise.all(shown.map((row) => row.getAttribute('data-type')))).toEqual(['leave']);
    await page.selectOption('#feed-type', '');

    // A bad name is refused in the page, and the feed goes on following room:1.
    await followChannels('room:1, no spaces{}');
    await waitFor(async () => (await text('#feed-channels-error')).startsWith('"spaces{}": channel must be'), { what: 'the refusal' });
    expect(await page.locator('#feed-body tr').count()).toBe(2);
    // Cleared, the feed is the client events again.
    await followChannels('');
    expect(await page.locator('#feed-channels-error').isHidden()).toBe(true);
    expect(await page.locator('#feed-type option').allInnerTexts()).toEqual(['all', 'online', 'offline']);
    expect(await page.locator('#feed-table th', { hasText: 'occupancy' }).isVisible()).toBe(false);
    await Promise.all([client.bye(), second.client.bye()]);
    await waitFor(async () => (await feedRow('dash-fay', 'offline').count()) === 1, {
      timeoutMs: VISIBLE_WITHIN_MS,
      what: 'the offline row',
    });
    expect(watched.errors).toEqual([]);
  });

  it('looks like this (docs/dashboard.png when UPDATE_SCREENSHOTS=1)', async () => {
    await page.setViewportSize({ width: 1400, height: 1000 });
    // Channels for the picture: the feed follows two, a client on two devices is in both.
    await followChannels('lobby, room:7');
    const ivy = await session('dash-ivy', { status: 'available' });
    await join(ivy.client, 'JOIN lobby {"role":"host"}', 'JOIN room:7 {"typing":false}');
    await join((await session('dash-ivy')).client, 'JOIN lobby {"device":"phone"}');
    await join((await session('dash-jo')).client, 'JOIN lobby', 'JOIN room:7 {"typing":true}');
    await join((await session('dash-kim')).client, 'JOIN lobby');
    await waitFor(async () => (await cellsOf('#channels-body tr')).join(' ') === 'lobby 3 4 room:7 2 2', { what: 'the busiest channels' });
    await page.fill('#lookup-id', 'dash-ivy');
    await page.click('#lookup-form button');
    await waitFor(
      async () =>
        (await page.locator('#lookup-sessions tbody tr').count()) === 2 && (await page.locator('#lookup-channels tbody tr').count()) === 2,
      { what: "dash-ivy's two sessions and two channels" },
    );
    await waitFor(async () => (await page.locator('#feed-body tr').count()) === 5, { what: 'the five joins in the feed' });
    await waitFor(async () => (await text('#sessions')) === String((await apiStats()).sessions), { what: 'the counts to be current' });
    const dir = process.env.UPDATE_SCREENSHOTS === '1' ? `${ROOT}docs` : `${ROOT}.test-logs/browser`;
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: `${dir}/dashboard.png`, fullPage: true });
    expect(watched.errors).toEqual([]);
  });
});
