import { KeySpace, webhookLaneKeys } from '@presence/wire-format';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deadLetterPageSchema,
  dropResultSchema,
  replayResultSchema,
  webhookCreatedSchema,
  webhookListSchema,
  webhookSchema,
} from '../../services/api/src/routes/webhooks-router.js';
import { freePort } from '../support/free-port.js';
import { ServiceProcess, Stack, type WebhooksProcess } from '../support/stack.js';
import { connectTestRedis, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { WEBHOOK_TEST_TIMING, admin, blink, clientIds, expectPerClientOrder, metricValue } from '../support/webhooks.js';

// The admin API (/v1/webhooks) and what it controls, end to end: tokens, validation, dead letters
// and their replay, deleting an endpoint with events in flight, and the address guard in the API
// and in the worker. Every answer is held against the zod schemas the router exports.

const API_TOKEN = 'read-token-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
/** The retry window of this file's worker: events are dead letters 1.5 s after they were queued. */
const RETRY_FOR_MS = 1_500;
const SHARDS = 4;

let stack: Stack;
let worker: WebhooksProcess;
let redis: Redis;
let configReceiver: WebhookReceiver;
const receivers: WebhookReceiver[] = [];
const extraProcesses: ServiceProcess[] = [];
const extraStacks: Stack[] = [];

beforeAll(async () => {
  configReceiver = await WebhookReceiver.start();
  stack = await Stack.start({
    redisUrl: testRedisUrl(),
    edges: 1,
    sweepers: 0,
    shards: SHARDS,
    env: { ...WEBHOOK_TEST_TIMING, API_TOKENS: API_TOKEN, ADMIN_TOKENS: ADMIN_TOKEN },
  });
  worker = await stack.addWebhooks({
    WEBHOOK_RETRY_FOR_MS: String(RETRY_FOR_MS),
    WEBHOOK_URLS: configReceiver.url,
    WEBHOOK_SECRET: 'config-secret-0123456789',
  });
  redis = connectTestRedis();
});

afterAll(async () => {
  await Promise.all(extraProcesses.map((p) => p.stop('SIGTERM')));
  await Promise.all(extraStacks.map((s) => s.stop()));
  await Promise.all([configReceiver, ...receivers].map((r) => r?.stop()));
  await redis?.quit();
  await stack?.stop();
});

/** An admin API call with the admin token, another token, or none (null). */
const call = (method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN) =>
  admin(stack.apiUrl, method, path, body, token ?? undefined);

const receiver = () => WebhookReceiver.startInto(receivers);

async function register(url: string, prefix: string, apiUrl = stack.apiUrl): Promise<string> {
  const created = await admin(apiUrl, 'POST', '/v1/webhooks', { url, filter: { clientIdPrefixes: [prefix] } }, ADMIN_TOKEN);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return webhookCreatedSchema.parse(created.body).id;
}

const webhook = async (id: string) => webhookSchema.parse((await call('GET', `/v1/webhooks/${id}`)).body);

/** An API process of its own beside the stack's, with other settings. */
async function extraApi(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const api = new ServiceProcess(
    'api',
    `api-${port}`,
    { ...stack.baseEnv, API_PORT: String(port), ...env },
    `${stack.api?.logFile}.${port}`,
  );
  extraProcesses.push(api);
  api.start();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 20_000, what: 'the extra API to be ready' });
  return url;
}

describe('access', () => {
  it('the admin API takes admin tokens only; read tokens do not open it, and admin tokens do not open the read API', async () => {
    const none = await call('GET', '/v1/webhooks', undefined, null);
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect((await call('GET', '/v1/webhooks', undefined, API_TOKEN)).status).toBe(401);
    expect((await call('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/' }, API_TOKEN)).status).toBe(401);
    expect((await call('DELETE', '/v1/webhooks/wh_0', undefined, 'not-a-token-0123456789')).status).toBe(401);
    const listed = await call('GET', '/v1/webhooks');
    expect(listed.status).toBe(200);
    webhookListSchema.parse(listed.body);

    expect((await admin(stack.apiUrl, 'GET', '/v1/stats', undefined, ADMIN_TOKEN)).status).toBe(401);
    expect((await admin(stack.apiUrl, 'GET', '/v1/stats', undefined, API_TOKEN)).status).toBe(200);
  });

  it('with API_TOKENS set and ADMIN_TOKENS not, the admin API is off rather than open', async () => {
    const api = await extraApi({ API_TOKENS: API_TOKEN, ADMIN_TOKENS: '' });
    const off = await admin(api, 'GET', '/v1/webhooks', undefined, API_TOKEN);
    expect(off.status).toBe(403);
    expect(off.body).toEqual({ error: { code: 'admin_disabled', message: expect.stringContaining('ADMIN_TOKENS') } });
    expect((await admin(api, 'POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/' })).status).toBe(403);
  });
});

describe('endpoints', () => {
  it('registers, lists and reads endpoints; the secret shows once; WEBHOOK_URLS endpoints are listed and cannot be deleted here', async () => {
    const created = await call('POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/x',
      events: ['offline'],
      filter: { clientIdPrefixes: ['ep-'] },
      description: 'billing',
    });
    expect(created.status).toBe(201);
    const body = webhookCreatedSchema.parse(created.body);
    expect(body).toMatchObject({ url: 'http://127.0.0.1:9/x', events: ['offline'], filter: { clientIdPrefixes: ['ep-'] }, source: 'api' });
    expect(body.secret).toMatch(/^whsec_[0-9a-f]{48}$/);
    const read = await call('GET', `/v1/webhooks/${body.id}`);
    expect(read.body).not.toHaveProperty('secret');
    expect(webhookSchema.parse(read.body)).toMatchObject({ id: body.id, description: 'billing', queued: 0, deadLetters: 0 });

    const list = webhookListSchema.parse((await call('GET', '/v1/webhooks')).body).webhooks;
    const fromConfig = list.find((w) => w.source === 'config');
    expect(fromConfig).toMatchObject({ url: configReceiver.url, events: ['online', 'offline'] });
    expect(list.map((w) => w.id)).toContain(body.id);
    const refused = await call('DELETE', `/v1/webhooks/${fromConfig?.id}`);
    expect([refused.status, (refused.body as { error: { code: string } }).error.code]).toEqual([409, 'managed_by_config']);

    expect((await call('DELETE', `/v1/webhooks/${body.id}`)).status).toBe(204);
    expect((await call('GET', `/v1/webhooks/${body.id}`)).status).toBe(404);
    expect((await call('DELETE', `/v1/webhooks/${body.id}`)).status).toBe(404);
  });

  it('bad input gets a 400 naming what is wrong', async () => {
    const cases: [unknown, string][] = [
      [{}, 'url'],
      [{ url: 'ftp://example.com/' }, 'url must be an http:// or https:// URL'],
      [{ url: 'https://user:pw@example.com/' }, 'url must not carry a user name or password'],
      [{ url: 'https://example.com/', events: ['joined'] }, 'events.0 must each be one of online, offline, join, leave, update'],
      [{ url: 'https://example.com/', events: [] }, 'events must list at least one event type'],
      [{ url: 'https://example.com/', filter: { clientIdPrefixes: ['has space'] } }, 'filter.clientIdPrefixes.0 must be'],
      [{ url: 'https://example.com/', filter: { channels: 'lobby' } }, 'filter.channels'],
      [{ url: 'https://example.com/', filter: { channels: ['room:*'] } }, 'filter.channels.0 must be an exact channel name: patterns'],
      [{ url: 'https://example.com/', filter: { channels: ['room 1'] } }, 'filter.channels.0 must be 1-200 characters of'],
      [{ url: 'https://example.com/', filter: { channels: ['x'.repeat(201)] } }, 'filter.channels.0 must be 1-200 characters of'],
      [{ url: 'https://example.com/', filter: { channels: clientIds('room:', 101) } }, 'filter.channels must list at most 100 channels'],
      [{ url: 'https://example.com/', events: ['join'] }, 'filter.channels must name the channels whose join, leave, update events'],
      [{ url: 'https://example.com/', events: ['online'], filter: { channels: ['lobby'] } }, 'events must include join, leave, update'],
      [{ url: 'https://example.com/', filter: { rooms: ['lobby'] } }, 'filter'],
      [{ url: 'https://example.com/', secret: 'short' }, 'secret must be 16-256 printable characters'],
      [{ url: 'https://example.com/', retries: 3 }, 'retries'],
    ];
    for (const [body, message] of cases) {
      const answer = await call('POST', '/v1/webhooks', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.body as { error: { code: string; message: string } }).error).toEqual({
        code: 'bad_request',
        message: expect.stringContaining(message),
      });
    }
    const notJson = await fetch(`${stack.apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{"url":',
    });
    expect([notJson.status, ((await notJson.json()) as { error: { code: string } }).error.code]).toEqual([400, 'bad_json']);
    expect((await call('GET', '/v1/webhooks/no{such}id')).status).toBe(404);
    expect((await call('GET', '/v1/webhooks/wh_0/dead-letters?limit=0')).status).toBe(404);
  });
});

describe('dead letters', () => {
  it('events whose retry window ends become dead letters: listed in pages, counted, replayed and dropped', async () => {
    const capture = await receiver();
    capture.answer = () => 500;
    const id = await register(capture.url, 'dl-');
    await blink(stack, clientIds('dl-', 3));
    const dead = await waitFor(
      async () => {
        const state = await webhook(id);
        return state.deadLetters === 6 && state.queued === 0 && state;
      },
      { timeoutMs: RETRY_FOR_MS + 5_000, what: 'all 6 events to be dead letters' },
    );
    expect(dead.deadLetters).toBe(6);
    expect(await metricValue(worker.metricsPort, 'presence_webhook_dead_letters', { endpoint: id })).toBe(6);

    // Two pages, oldest first, every event once.
    const first = deadLetterPageSchema.parse((await call('GET', `/v1/webhooks/${id}/dead-letters?limit=4`)).body);
    expect(first.deadLetters).toHaveLength(4);
    expect(first.nextCursor).not.toBeNull();
    const second = deadLetterPageSchema.parse(
      (await call('GET', `/v1/webhooks/${id}/dead-letters?limit=4&cursor=${encodeURIComponent(first.nextCursor ?? '')}`)).body,
    );
    expect(second.deadLetters).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
    const letters = [...first.deadLetters, ...second.deadLetters];
    const eventIds = letters.map((letter) => (letter.event as { id: string }).id);
    expect(new Set(eventIds)).toEqual(new Set(capture.requests.flatMap((request) => request.eventIds)));
    for (const letter of letters) {
      expect(letter.error).toBe('HTTP 500');
      expect(letter.attempts).toBeGreaterThanOrEqual(2);
      expect(letter.failedAt - letter.queuedAt).toBeGreaterThanOrEqual(RETRY_FOR_MS);
    }
    expect(letters.map((letter) => letter.failedAt)).toEqual([...letters.map((letter) => letter.failedAt)].sort((a, b) => a - b));
    expect((await call('GET', `/v1/webhooks/${id}/dead-letters?cursor=v1.2.x`)).status).toBe(400);

    // The receiver is fixed: replay two by id, then the rest.
    capture.answer = () => 200;
    const some = await call('POST', `/v1/webhooks/${id}/dead-letters/replay`, { ids: letters.slice(0, 2).map((l) => l.id) });
    expect(replayResultSchema.parse(some.body)).toEqual({ replayed: 2 });
    await waitFor(() => capture.uniqueDelivered().length === 2, { what: 'the 2 replayed events' });
    expect(capture.uniqueDelivered().map((e) => e.id)).toEqual(expect.arrayContaining(eventIds.slice(0, 2)));
    expect((await webhook(id)).deadLetters).toBe(4);
    const rest = await call('POST', `/v1/webhooks/${id}/dead-letters/replay`, {});
    expect(replayResultSchema.parse(rest.body)).toEqual({ replayed: 4 });
    await waitFor(() => capture.uniqueDelivered().length === 6, { what: 'all 6 events after the replays' });
    expect((await webhook(id)).deadLetters).toBe(0);
    expect(await metricValue(worker.metricsPort, 'presence_webhook_dead_letters', { endpoint: id })).toBe(0);

    // Broken again: two more dead letters, dropped.
    capture.answer = () => 503;
    await blink(stack, ['dl-late']);
    await waitFor(async () => (await webhook(id)).deadLetters === 2, { timeoutMs: RETRY_FOR_MS + 5_000, what: '2 new dead letters' });
    expect(dropResultSchema.parse((await call('DELETE', `/v1/webhooks/${id}/dead-letters`)).body)).toEqual({ dropped: 2 });
    expect((await webhook(id)).deadLetters).toBe(0);
  });
});

describe('deleting an endpoint', () => {
  it('with a request in flight and events queued: the request is aborted, nothing more is sent, its keys are gone', async () => {
    const doomed = await receiver();
    doomed.answer = () => 'hang';
    const sentinel = await receiver();
    const doomedId = await register(doomed.url, 'del-');
    await register(sentinel.url, 'del-');
    const abortedBefore = await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'aborted' });
    await blink(stack, clientIds('del-', 2));
    // More queued behind the hanging request.
    await blink(stack, ['del-more']);
    await waitFor(() => sentinel.uniqueDelivered().length === 6, { what: 'the sentinel to get the first 6 events' });
    // Each attempt hangs until the worker gives up (WEBHOOK_TIMEOUT_MS); delete while a fresh one waits.
    const inFlight = await waitFor(() => doomed.waiting().find((request) => Date.now() - request.receivedAt < 200), {
      intervalMs: 5,
      what: 'a fresh request in flight to the doomed endpoint',
    });

    expect((await call('DELETE', `/v1/webhooks/${doomedId}`)).status).toBe(204);
    const deletedAt = Date.now();
    await waitFor(() => inFlight.abandonedAt !== null, { what: 'the request in flight to be abandoned' });
    // Aborted on the deletion, well before its timeout would have ended it.
    expect((inFlight.abandonedAt ?? 0) - deletedAt).toBeLessThan(Number(WEBHOOK_TEST_TIMING.WEBHOOK_TIMEOUT_MS) / 2);
    expect(await metricValue(worker.metricsPort, 'presence_webhook_failures_total', { reason: 'aborted' })).toBeGreaterThan(abortedBefore);
    // Events after the deletion reach the other endpoint only: once the sentinel has them, the doomed one had its chance.
    await blink(stack, ['del-after']);
    await waitFor(() => sentinel.uniqueDelivered().length === 8, { what: 'the sentinel to get the events after the deletion' });
    expect(doomed.requests.filter((request) => request.receivedAt >= deletedAt)).toEqual([]);
    expect(doomed.accepted()).toEqual([]);
    const keys = new KeySpace(stack.prefix, SHARDS);
    const lanes = keys.webhookSources().flatMap((source) => Object.values(webhookLaneKeys(source, doomedId)) as string[]);
    // One key at a time: the lanes are in different cluster slots.
    expect(await Promise.all(lanes.map((lane) => redis.exists(lane)))).toEqual(lanes.map(() => 0));
    expect(await redis.hexists(keys.webhooks.jobs, doomedId)).toBe(0);
    expect(expectPerClientOrder(sentinel.deliveredEvents())).toBe(4);
  });
});

describe('address guard', () => {
  it('the API refuses endpoints on loopback, private, link-local and other non-public addresses, names resolved first', async () => {
    const api = await extraApi({ WEBHOOK_ALLOW_PRIVATE: 'off' });
    const refused = [
      'http://127.0.0.1:8080/hook',
      'http://localhost:8080/hook',
      'http://10.1.2.3/hook',
      'http://172.16.0.1/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.64.0.1/hook',
      'http://0.0.0.0/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[fd00::1]/hook',
      'http://[fe80::1]/hook',
    ];
    for (const url of refused) {
      const answer = await admin(api, 'POST', '/v1/webhooks', { url }, ADMIN_TOKEN);
      expect([url, answer.status, (answer.body as { error?: { code: string } }).error?.code]).toEqual([url, 400, 'address_refused']);
    }
    const localhost = await admin(api, 'POST', '/v1/webhooks', { url: 'http://localhost:8080/hook' }, ADMIN_TOKEN);
    expect((localhost.body as { error: { message: string } }).error.message).toMatch(
      /localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/,
    );
    // A public address is taken (an address literal: no DNS needed here).
    const publicAddress = await admin(api, 'POST', '/v1/webhooks', { url: 'https://93.184.215.14/hook' }, ADMIN_TOKEN);
    expect(publicAddress.status).toBe(201);
    expect(
      (await admin(api, 'DELETE', `/v1/webhooks/${webhookCreatedSchema.parse(publicAddress.body).id}`, undefined, ADMIN_TOKEN)).status,
    ).toBe(204);
  });

  it('the worker checks the address again when it connects, and follows no redirect', async () => {
    // Registered while private addresses were allowed; the worker does not allow them.
    const guarded = await Stack.start({
      redisUrl: testRedisUrl(),
      edges: 1,
      sweepers: 0,
      env: { ...WEBHOOK_TEST_TIMING, WEBHOOK_RETRY_FOR_MS: String(RETRY_FOR_MS) },
    });
    extraStacks.push(guarded);
    const guardedWorker = await guarded.addWebhooks({ WEBHOOK_ALLOW_PRIVATE: 'off' });
    const target = await receiver();
    const id = webhookCreatedSchema.parse(
      (await admin(guarded.apiUrl, 'POST', '/v1/webhooks', { url: `http://localhost:${target.port}/hook` })).body,
    ).id;
    await blink(guarded, ['ssrf-a']);
    const letters = await waitFor(
      async () => {
        const page = deadLetterPageSchema.parse((await admin(guarded.apiUrl, 'GET', `/v1/webhooks/${id}/dead-letters`)).body);
        return page.deadLetters.length === 2 && page.deadLetters;
      },
      { timeoutMs: RETRY_FOR_MS + 5_000, what: 'both events refused until they are dead letters' },
    );
    expect(letters[0]?.error).toMatch(/^localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/);
    expect(await metricValue(guardedWorker.metricsPort, 'presence_webhook_failures_total', { reason: 'address_refused' })).toBeGreaterThan(
      0,
    );
    expect(target.requests).toEqual([]);

    // A redirect is a failed attempt: the worker does not go where it points.
    const redirecting = await receiver();
    const elsewhere = await receiver();
    redirecting.answer = (_request, index) => (index === 0 ? { status: 302, headers: { location: elsewhere.url } } : 200);
    const allowed = await guarded.addWebhooks({ WEBHOOK_ALLOW_PRIVATE: 'on' });
    await guardedWorker.stop();
    await admin(guarded.apiUrl, 'POST', '/v1/webhooks', {
      url: redirecting.url,
      filter: { clientIdPrefixes: ['redir-'] },
    });
    await blink(guarded, ['redir-a']);
    await waitFor(() => redirecting.uniqueDelivered().length === 2, { what: 'both events after the refused redirect' });
    expect(redirecting.requests[0]?.status).toBe(302);
    expect(elsewhere.requests).toEqual([]);
    expect(await metricValue(allowed.metricsPort, 'presence_webhook_failures_total', { reason: 'redirect' })).toBe(1);
  });
});
