import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { Stack, type WebhooksProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import {
  WEBHOOK_TEST_TIMING,
  admin,
  blink,
  clientIds,
  expectPerClientOrder,
  metricValue,
  registerWebhook,
  sign,
} from '../support/webhooks.js';

// Webhook delivery end to end: real edge, API and webhooks worker processes, a real Redis, real
// HTTP receivers on loopback. Each test registers its own endpoint for the client ids of its own
// prefix, so the tests share one stack without seeing each other's events.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TIMEOUT_MS = Number(WEBHOOK_TEST_TIMING.WEBHOOK_TIMEOUT_MS);
const BACKOFF_MAX_MS = Number(WEBHOOK_TEST_TIMING.WEBHOOK_BACKOFF_MAX_MS);

let stack: Stack;
let worker: WebhooksProcess;
const receivers: WebhookReceiver[] = [];
const processes: ChildProcess[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 0, env: WEBHOOK_TEST_TIMING });
  worker = await stack.addWebhooks();
});

afterAll(async () => {
  for (const child of processes) child.kill('SIGKILL');
  await Promise.all(receivers.map((r) => r.stop()));
  await stack?.stop();
});

const receiver = () => WebhookReceiver.startInto(receivers);

/** A documented receiver (examples/webhooks/receiver.*) as a process; its stdout lines as they come. */
async function documentedReceiver(command: string, file: string, secret: string): Promise<{ url: string; lines: string[] }> {
  const port = await freePort();
  const child = spawn(command, [`${ROOT}examples/webhooks/${file}`], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  processes.push(child);
  const lines: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((line) => line !== '')));
  await waitFor(() => lines.some((line) => line.startsWith('listening on')), { timeoutMs: 10_000, what: `${file} to listen` });
  return { url: `http://127.0.0.1:${port}/`, lines };
}

/** The fenced code block that follows `<!-- <marker> -->` in docs/webhooks.md. */
function documentedBlock(marker: string): string {
  const doc = readFileSync(`${ROOT}docs/webhooks.md`, 'utf8');
  const match = new RegExp(`<!-- ${marker} -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\`\\n`).exec(doc);
  if (match === null) throw new Error(`docs/webhooks.md has no code block after <!-- ${marker} -->`);
  return `${match[1]}\n`;
}

describe('signed deliveries', () => {
  it('docs/webhooks.md shows the receivers in examples/webhooks/ as they are', () => {
    expect(documentedBlock('examples/webhooks/receiver.mjs')).toBe(readFileSync(`${ROOT}examples/webhooks/receiver.mjs`, 'utf8'));
    expect(documentedBlock('examples/webhooks/receiver.py')).toBe(readFileSync(`${ROOT}examples/webhooks/receiver.py`, 'utf8'));
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  for (const [language, command, file] of [
    ['Node', process.execPath, 'receiver.mjs'],
    ['Python', 'python3', 'receiver.py'],
  ] as const) {
    it.skipIf(language === 'Python' && !python)(
      `the documented ${language} receiver accepts real deliveries and refuses a tampered body, another secret and an old signature`,
      async () => {
        const secret = `whsec_test_${language.toLowerCase()}_0123456789`;
        const prefix = `sig-${language.toLowerCase()}-`;
        const documented = await documentedReceiver(command, file, secret);
        const capture = await receiver();
        await registerWebhook(stack.apiUrl, documented.url, prefix, { secret });
        await registerWebhook(stack.apiUrl, capture.url, prefix, { secret });
        await blink(stack, [`${prefix}alice`]);

        // The real deliveries, verified by the snippet: it prints an event only after checking its signature.
        await waitFor(() => documented.lines.some((line) => line.startsWith(`offline ${prefix}alice leave`)), {
          timeoutMs: 10_000,
          what: 'the documented receiver to print the offline event',
        });
        expect(documented.lines.filter((line) => line.startsWith('online') || line.startsWith('offline'))).toEqual([
          expect.stringMatching(new RegExp(`^online ${prefix}alice  id=`)),
          expect.stringMatching(new RegExp(`^offline ${prefix}alice leave id=`)),
        ]);
        expect(documented.lines).not.toContain('refused: bad or old signature');

        // The same bytes and headers the worker sent to the other endpoint, replayed at the snippet.
        await waitFor(() => capture.accepted().length > 0, { what: 'a captured delivery' });
        const real = capture.accepted()[0]!;
        const replay = (body: string, signature: string) =>
          fetch(documented.url, { method: 'POST', headers: { 'content-type': 'application/json', 'presence-signature': signature }, body });
        const signature = String(real.headers['presence-signature']);
        expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
        expect((await replay(real.body, signature)).status).toBe(204);
        expect((await replay(real.body.replace('"online"', '"offline"'), signature)).status).toBe(400);
        const now = Math.floor(Date.now() / 1000);
        expect((await replay(real.body, sign('another-secret-0123456789', now, real.body))).status).toBe(400);
        expect((await replay(real.body, sign(secret, now - 3_600, real.body))).status).toBe(400);
        expect((await replay(real.body, sign(secret, now, real.body))).status).toBe(204);
        expect(documented.lines.filter((line) => line === 'refused: bad or old signature')).toHaveLength(3);
      },
    );
  }

  it('a request carries the batch as {"events":[…]} with its ids, the signature over "t.body", and the attempt number', async () => {
    const capture = await receiver();
    const webhook = await registerWebhook(stack.apiUrl, capture.url, 'hdr-');
    await blink(stack, ['hdr-a']);
    await waitFor(() => capture.uniqueDelivered().length === 2, { what: 'both events' });
    const [first] = capture.accepted();
    const t = Number(/^t=(\d+),/.exec(String(first?.headers['presence-signature']))?.[1]);
    expect(first?.headers['presence-signature']).toBe(sign(webhook.secret, t, first?.body ?? ''));
    expect(Math.abs(Date.now() / 1000 - t)).toBeLessThan(30);
    expect(first?.headers['content-type']).toBe('application/json');
    expect(first?.headers['presence-webhook-id']).toBe(webhook.id);
    expect(first?.headers['presence-delivery-attempt']).toBe('1');
    expect(first?.eventIds).toEqual(first?.events.map((event) => event.id));
    expect(Object.keys(JSON.parse(first?.body ?? '{}') as object)).toEqual(['events']);
    expect(capture.uniqueDelivered().map((e) => [e.type, e.clientId, e.reason])).toEqual([
      ['online', 'hdr-a', null],
      ['offline', 'hdr-a', 'leave'],
    ]);
  });
});

describe('retries', () => {
  it('a receiver answering 500 three times gets the same events again until it answers 200, then each event once more never', async () => {
    const capture = await receiver();
    capture.answer = (_request, index) => (index < 3 ? 500 : 200);
    const failuresBefore = await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'status_5xx' });
    const retriesBefore = await metricValue(worker.metricsPort, 'presence_webhook_retries_total');
    const webhook = await registerWebhook(stack.apiUrl, capture.url, 'r5-');
    await blink(stack, clientIds('r5-', 3));
    await waitFor(() => capture.uniqueDelivered().length === 6, { timeoutMs: 10_000, what: 'all 6 events accepted' });
    // A sentinel closes the window: an accepted event sent again would come before its events.
    await blink(stack, ['r5-sentinel']);
    await waitFor(() => capture.uniqueDelivered().length === 8, { what: "the sentinel's events" });
    expect((await admin(stack.apiUrl, 'GET', `/v1/webhooks/${webhook.id}`)).body).toMatchObject({ queued: 0, deadLetters: 0 });

    const statuses = capture.requests.map((request) => request.status);
    expect(statuses.slice(0, 4)).toEqual([500, 500, 500, 200]);
    expect(capture.requests.slice(0, 4).map((request) => request.headers['presence-delivery-attempt'])).toEqual(['1', '2', '3', '4']);
    // Each attempt sends the front of the queue again: the refused events, and those that came meanwhile.
    const refused = capture.requests[0]?.eventIds ?? [];
    for (const request of capture.requests.slice(1, 4)) expect(request.eventIds).toEqual(expect.arrayContaining(refused));
    // Accepted once each: nothing is sent again after a 2xx.
    const accepted = capture.deliveredEvents().map((event) => event.id);
    expect(new Set(accepted).size).toBe(accepted.length);
    expect(expectPerClientOrder(capture.deliveredEvents())).toBe(4);
    expect(await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'status_5xx' })).toBeGreaterThanOrEqual(
      failuresBefore + 3,
    );
    expect(await metricValue(worker.metricsPort, 'presence_webhook_retries_total')).toBeGreaterThanOrEqual(retriesBefore + 3);
  });

  it(`a request not answered within WEBHOOK_TIMEOUT_MS (${TIMEOUT_MS} ms) fails and is sent again`, async () => {
    const capture = await receiver();
    capture.answer = (_request, index) => (index === 0 ? 'hang' : 200);
    const timeoutsBefore = await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'timeout' });
    await registerWebhook(stack.apiUrl, capture.url, 'to-');
    await blink(stack, ['to-a']);
    await waitFor(() => capture.uniqueDelivered().length === 2, { timeoutMs: 10_000, what: 'both events accepted' });

    const [hung, retried] = capture.requests;
    const gap = (retried?.receivedAt ?? 0) - (hung?.receivedAt ?? 0);
    // Sent again after the timeout plus one backoff (at most BACKOFF_MAX_MS), give or take scheduling.
    expect(gap).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(gap).toBeLessThan(TIMEOUT_MS + BACKOFF_MAX_MS + 1_000);
    expect(retried?.eventIds).toEqual(expect.arrayContaining(hung?.eventIds ?? []));
    expect(await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'timeout' })).toBeGreaterThanOrEqual(
      timeoutsBefore + 1,
    );
  });

  it('a receiver down for longer than the request timeout gets every event when it is back, each client in order', async () => {
    const capture = await receiver();
    await registerWebhook(stack.apiUrl, capture.url, 'down-');
    await capture.stop();
    const downAt = Date.now();
    const refusedBefore = await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'connection' });
    const ids = clientIds('down-', 10);
    await blink(stack, ids);
    await blink(stack, ids);
    // Down for three request timeouts, refusing attempt after attempt meanwhile.
    await waitFor(
      async () =>
        Date.now() - downAt >= 3 * TIMEOUT_MS &&
        (await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'connection' })) >= refusedBefore + 5,
      { timeoutMs: 15_000, what: 'the receiver to be down 3 s with 5 refused attempts' },
    );
    expect(capture.requests).toHaveLength(0);

    await capture.start();
    const backAt = Date.now();
    await waitFor(() => capture.uniqueDelivered().length === 40, { timeoutMs: 10_000, what: 'all 40 events after the receiver is back' });
    const allInMs = Date.now() - backAt;
    // The next attempt comes within one capped backoff, and the backlog goes in batches.
    expect(allInMs).toBeLessThan(BACKOFF_MAX_MS + 2_000);
    expect(expectPerClientOrder(capture.deliveredEvents())).toBe(10);
    expect(capture.requests.length).toBeLessThan(40);
  });
});
