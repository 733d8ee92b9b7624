import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage, type WatchedPage } from '../support/browser.js';
import { SseClient } from '../support/sse-client.js';
import { FAST_TIMING, Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { WsClient } from '../support/ws-client.js';

/**
 * The example page (examples/presence.html, served by the API with the SDK bundle) in headless
 * Chromium, against real services: what a person opening it sees, and what the API then says.
 */

interface Event {
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
}

const SCREENSHOT = fileURLToPath(new URL('../../docs/example-page.png', import.meta.url));
const GRACE_MS = 3_000;
const heartbeatTimeoutMs = Number(FAST_TIMING.HEARTBEAT_TIMEOUT_MS);
const sweepIntervalMs = Number(FAST_TIMING.SWEEP_INTERVAL_MS);
/** Scheduling on a loaded two-core machine, and the browser's own pace. */
const slackMs = 1_500;

let stack: Stack;
let edge: EdgeProcess;
let live: SseClient;
let browser: Browser;
const pages: WatchedPage[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 1, env: { OFFLINE_GRACE_MS: String(GRACE_MS) } });
  edge = await stack.addEdge();
  live = await SseClient.open(`${stack.apiUrl}/v1/events`);
  await waitFor(() => live.lastEventId !== null, { what: 'the SSE stream to open' });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  live?.close();
  await stack?.stop();
});

const eventsOf = (clientId: string) => live.events<Event>().filter((e) => e.clientId === clientId);

async function presence(clientId: string): Promise<{ online: boolean; sessions: { meta: Record<string, unknown> | null }[] }> {
  return (await (await fetch(`${stack.apiUrl}/v1/presence/${clientId}`)).json()) as never;
}

/** Opens the example page; its settings go after `?`, or after `#` (where the README puts tokens). */
async function openExample(clientId: string, after: '?' | '#' = '?'): Promise<WatchedPage> {
  const watched = await openWatchedPage(browser);
  pages.push(watched);
  const ws = WsClient.url(edge.wsPort);
  await watched.page.goto(`${stack.apiUrl}/examples/presence.html${after}clientId=${clientId}&ws=${encodeURIComponent(ws)}`);
  return watched;
}

const statusOf = (page: Page) => page.locator('#status').getAttribute('data-status');
const listed = (page: Page, clientId: string) => page.locator(`#online li[data-client-id="${clientId}"]`).count();

/** A client's events up to a sentinel: another client's online and offline, caused now and awaited. */
async function eventsUntilSentinel(clientId: string, sentinelId: string): Promise<Event[]> {
  const sentinel = await WsClient.session(edge.wsPort, sentinelId);
  await sentinel.client.bye();
  await waitFor(() => eventsOf(sentinelId).length === 2, { what: 'the sentinel events' });
  return eventsOf(clientId);
}

describe('the example page in a real browser', () => {
  it('shows itself online, the API agrees, and others appear in its list; closing the tab is offline closed within the grace', async () => {
    const { page, errors } = await openExample('browser-alice');
    await waitFor(async () => (await statusOf(page)) === 'connected', { timeoutMs: 10_000, what: 'the page to connect' });
    await waitFor(async () => (await listed(page, 'browser-alice')) === 1, { what: 'the page to list itself' });
    await waitFor(async () => ((await presence('browser-alice')).sessions[0]?.meta ?? null) !== null, {
      what: 'the page online over HTTP',
    });
    expect((await presence('browser-alice')).sessions[0]?.meta).toMatchObject({ page: '/examples/presence.html' });

    // Others, on either transport, show up live (and make the screenshot worth a look).
    const phone = await WireClient.session(edge.port, 'phone-of-bob');
    const tablet = await WsClient.session(edge.wsPort, 'tablet-of-carol');
    await waitFor(async () => (await listed(page, 'phone-of-bob')) + (await listed(page, 'tablet-of-carol')) === 2, {
      what: 'the others in the list',
    });
    await tablet.client.bye();
    await waitFor(async () => (await listed(page, 'tablet-of-carol')) === 0, { what: 'carol to leave the list' });
    await waitFor(async () => (await page.locator('#feed li.offline').count()) === 1, { what: 'the offline in the feed' });
    await page.setViewportSize({ width: 900, height: 420 });
    await page.screenshot({ path: SCREENSHOT });
    phone.client.destroy();

    const closedAt = Date.now();
    await page.close();
    await waitFor(() => eventsOf('browser-alice').length === 2, { timeoutMs: GRACE_MS + 5_000, what: 'the offline event' });
    const tookMs = Date.now() - closedAt;
    expect(eventsOf('browser-alice').map((e) => [e.type, e.reason])).toEqual([
      ['online', null],
      ['offline', 'closed'],
    ]);
    // Debounced by the grace, written by the sweeper's next pass.
    expect(tookMs).toBeGreaterThanOrEqual(GRACE_MS - 100);
    expect(tookMs).toBeLessThan(GRACE_MS + sweepIntervalMs + slackMs);
    expect((await presence('browser-alice')).online).toBe(false);
    expect(errors).toEqual([]);
  });

  it('a page whose network is cut goes offline (timeout or closed) and comes back by itself when it returns, one online event', async () => {
    const { page, context } = await openExample('browser-dave', '#');
    await waitFor(async () => (await statusOf(page)) === 'connected', { timeoutMs: 10_000, what: 'the page to connect' });
    await waitFor(() => eventsOf('browser-dave').length === 1, { what: 'the online event' });

    await context.setOffline(true);
    await waitFor(async () => (await statusOf(page)) !== 'connected', {
      timeoutMs: 2 * heartbeatTimeoutMs + slackMs,
      what: 'the page to notice',
    });
    await waitFor(async () => !(await presence('browser-dave')).online, {
      timeoutMs: heartbeatTimeoutMs + GRACE_MS + sweepIntervalMs + slackMs,
      what: 'the server to see it offline',
    });
    const cut = eventsOf('browser-dave').slice(1);
    expect(cut.map((e) => e.type)).toEqual(['offline']);
    expect(['timeout', 'closed']).toContain(cut[0]?.reason);

    await context.setOffline(false);
    await waitFor(async () => (await statusOf(page)) === 'connected', { timeoutMs: 10_000, what: 'the page to reconnect' });
    await waitFor(async () => (await presence('browser-dave')).online, { what: 'online over HTTP again' });
    const events = await eventsUntilSentinel('browser-dave', 'browser-dave-sentinel');
    expect(events.map((e) => e.type)).toEqual(['online', 'offline', 'online']);
  });

  it("a page of another origin imports the SDK from the API (the README's snippet) and is online", async () => {
    const { page, errors } = await openWatchedPage(browser);
    // A page that is not the API's: its module import of the SDK is a cross-origin (CORS) fetch.
    await page.setContent('<!doctype html><title>elsewhere</title><p id="status">starting</p>');
    await page.addScriptTag({
      type: 'module',
      content: `
        import { createPresenceClient } from '${stack.apiUrl}/sdk/presence-client.js';
        const presence = createPresenceClient({ url: '${WsClient.url(edge.wsPort)}', clientId: 'browser-erin', state: { page: 'elsewhere' } });
        presence.on('connected', (info) => { document.getElementById('status').textContent = 'online ' + info.sessionId; });
        await presence.connect();
      `,
    });
    await waitFor(async () => ((await page.locator('#status').textContent()) ?? '').startsWith('online '), {
      timeoutMs: 10_000,
      what: 'the page to be online',
    });
    await waitFor(async () => ((await presence('browser-erin')).sessions[0]?.meta ?? null) !== null, {
      what: 'online over HTTP with its state',
    });
    expect((await presence('browser-erin')).sessions[0]?.meta).toEqual({ page: 'elsewhere' });
    await page.close();
    expect(errors).toEqual([]);
  });
});
