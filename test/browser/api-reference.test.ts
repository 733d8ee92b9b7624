import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, openWatchedPage } from '../support/browser.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';

// The rendered API reference (GET /docs/api) works with nothing but the API: every request to
// another host is refused, and the page must still render the operations.
let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 0 });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the API reference page', () => {
  it('renders its operations from the API alone, with every other host refused and no errors', async () => {
    const { page, context, errors } = await openWatchedPage(browser);
    const elsewhere: string[] = [];
    const api = new URL(stack.apiUrl);
    await context.route('**/*', async (route) => {
      const url = new URL(route.request().url());
      if (url.host === api.host || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
      elsewhere.push(url.href);
      return route.abort();
    });
    await page.goto(`${stack.apiUrl}/docs/api`);
    await page.getByText('Presence API (0.1.0)').waitFor({ timeout: 20_000 });
    // Redoc renders the operations after the title, and lazily, as the page scrolls: scroll to the end
    // until the last ones are there too.
    const operations = ['/v1/presence/{clientId}', '/v1/events', '/v1/webhooks/{id}/dead-letters/replay', '/readyz', '/v1/dashboard/nodes'];
    let missing: string[] = [];
    await waitFor(
      async () => {
        await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
        const text = await page.innerText('body');
        missing = operations.filter((operation) => !text.includes(operation));
        return missing.length === 0;
      },
      { timeoutMs: 20_000, what: 'every operation on the page' },
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; missing: ${missing.join(', ')}`);
    });
    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
