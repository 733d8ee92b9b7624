import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage, type WatchedPage } from '../support/browser.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

const API_TOKEN = 'dashboard-token-0123456789abcdef';
const TOKEN_KEY = 'presence.dashboard.token';

let stack: Stack;
let browser: Browser;
let watched: WatchedPage;
let page: Page;
/** Every URL the page requested. */
const requested: string[] = [];
const clients: WireClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, env: { API_TOKENS: API_TOKEN, LOG_LEVEL: 'debug' } });
  browser = await launchBrowser();
  watched = await openWatchedPage(browser);
  page = watched.page;
  page.on('request', (request) => requested.push(request.url()));
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await browser?.close();
  await stack?.stop();
});

const text = (selector: string) => page.locator(selector).innerText();
/** What the page keeps in this tab's sessionStorage. */
const storedToken = () => page.evaluate<string | null>(`sessionStorage.getItem(${JSON.stringify(TOKEN_KEY)})`);

describe('the dashboard with API_TOKENS set', () => {
  it('asks for a token, keeps it in sessionStorage, and streams events through a query token', async () => {
    await page.goto(`${stack.apiUrl}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.locator('#main').isHidden()).toBe(true);
    expect(await storedToken()).toBeNull();

    await page.fill('#token-input', API_TOKEN);
    await page.click('#login button[type=submit]');
    await waitFor(async () => (await text('#status')) === 'live', { what: 'the event stream to open with a query token' });
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await storedToken()).toBe(API_TOKEN);

    const { client } = await WireClient.session(stack.edges[0]!.port, 'auth-ada');
    clients.push(client);
    await waitFor(async () => (await page.locator('#feed-body tr[data-client-id="auth-ada"][data-type="online"]').count()) === 1, {
      timeoutMs: 2_000,
      what: 'auth-ada in the feed',
    });
    await waitFor(async () => (await text('#online-clients')) === '1', { timeoutMs: 2_000, what: 'the count' });

    // The stream was opened with a short-lived token scoped to it, never with the API token.
    const streams = requested.filter((url) => new URL(url).pathname === '/v1/events');
    expect(streams.length).toBeGreaterThan(0);
    for (const url of streams) expect(url).not.toContain(API_TOKEN);
    const queryToken = new URL(streams[0]!).searchParams.get('access_token') ?? '';
    const claims = decodeJwt(queryToken);
    expect(claims.aud).toBe('presence:events');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeGreaterThanOrEqual(60);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(61);
    // Neither token reaches the API's log (at debug level).
    const log = stack.api!.log();
    expect(log).toContain('api listening');
    expect(log).not.toContain(queryToken);
    expect(log).not.toContain(API_TOKEN);
    expect(watched.errors).toEqual([]);
  });

  it('shows channels with the token: the busiest, the feed on a channel (through a query token), the lookup', async () => {
    await page.fill('#feed-channels', 'room:1');
    await page.press('#feed-channels', 'Enter');
    const { client } = await WireClient.session(stack.edges[0]!.port, 'auth-bo');
    clients.push(client);
    client.send('JOIN room:1');
    expect(await client.nextLine()).toBe('JOINED room:1 1 1');
    await waitFor(
      async () => (await page.locator('#channels-body tr[data-channel="room:1"] td').allInnerTexts()).join(' ') === 'room:1 1 1',
      {
        timeoutMs: 2_000,
        what: 'room:1 in the busiest channels',
      },
    );
    await waitFor(async () => (await page.locator('#feed-body tr[data-client-id="auth-bo"][data-type="join"]').count()) === 1, {
      timeoutMs: 2_000,
      what: 'the join in the feed',
    });
    const channelStreams = requested.filter((url) => new URL(url).pathname === '/v1/events' && new URL(url).searchParams.has('channels'));
    expect(channelStreams.length).toBeGreaterThan(0);
    for (const url of channelStreams) {
      expect(new URL(url).searchParams.get('channels')).toBe('room:1');
      expect(decodeJwt(new URL(url).searchParams.get('access_token') ?? '').aud).toBe('presence:events');
      expect(url).not.toContain(API_TOKEN);
    }
    await page.fill('#lookup-id', 'auth-bo');
    await page.click('#lookup-form button');
    await waitFor(async () => (await page.locator('#lookup-channels tr[data-channel="room:1"]').count()) === 1, {
      what: 'room:1 in the lookup',
    });
    expect(watched.errors).toEqual([]);
  });

  it('keeps the token for the tab (a reload stays signed in), not for another tab, and forgets it on sign-out', async () => {
    await page.reload();
    await waitFor(async () => (await text('#status')) === 'live', { what: 'the page to come back signed in' });

    const other = await openWatchedPage(browser);
    await other.page.goto(`${stack.apiUrl}/dashboard`);
    await other.page.locator('#login').waitFor({ state: 'visible' });
    expect(other.errors).toEqual([]);
    await other.context.close();

    await page.click('#sign-out');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await storedToken()).toBeNull();
    expect(watched.errors).toEqual([]);
  });

  it('refuses a wrong token with a message, and asks again', async () => {
    const before = watched.errors.length;
    await page.fill('#token-input', 'not-the-token-0123456789');
    await page.click('#login button[type=submit]');
    await waitFor(async () => (await text('#login-error')) === 'The API refused the token.', { what: 'the refusal' });
    expect(await page.locator('#main').isHidden()).toBe(true);
    // The one error Chromium logs is the 401 itself ("Failed to load resource"); the page's script raised none.
    expect(watched.errors.slice(before)).toEqual([expect.stringMatching(/status of 401/)]);
  });
});
