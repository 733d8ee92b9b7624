import type { PresenceEvent } from '@presence/wire-format';
import { afterAll, describe, expect, it } from 'vitest';
import { recordFigure } from '../support/figures.js';
import { RedisServer } from '../support/redis-server.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import {
  WEBHOOK_TEST_TIMING,
  blink,
  clientIds,
  expectPerClientOrder,
  metricValue,
  registerWebhook,
  streamEventIds,
} from '../support/webhooks.js';

// Crashes and concurrency: a webhooks worker SIGKILLed with a request in flight, two workers
// sharing the work, Redis SIGKILLed with events queued (AOF). Nothing that was in the streams may
// be lost, and nothing is delivered twice unless a crash came between a 2xx and its acknowledgement.

const SHARDS = 4;
const LOCK_MS = Number(WEBHOOK_TEST_TIMING.WEBHOOK_LOCK_MS);
const stacks: Stack[] = [];
const receivers: WebhookReceiver[] = [];
const servers: RedisServer[] = [];

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.stop()));
  await Promise.all(stacks.map((s) => s.stop()));
  await Promise.all(servers.map((s) => s.kill()));
});

async function stackOn(redisUrl: string, options: { redisMode?: 'standalone' } = {}): Promise<Stack> {
  const stack = await Stack.start({ redisUrl, ...options, edges: 1, sweepers: 0, shards: SHARDS, env: WEBHOOK_TEST_TIMING });
  stacks.push(stack);
  return stack;
}

const receiver = () => WebhookReceiver.startInto(receivers);

const repeats = (events: readonly PresenceEvent[]) => events.length - new Set(events.map((event) => event.id)).size;

describe('a webhooks worker killed mid-delivery', () => {
  it('loses no event: another worker takes over its delivery and the fan-out', async () => {
    const stack = await stackOn(testRedisUrl());
    const doomed = await stack.addWebhooks();
    const capture = await receiver();
    capture.answer = () => 'hang';
    await registerWebhook(stack.apiUrl, capture.url, 'kill-');
    await blink(stack, clientIds('kill-', 5));
    const inFlight = await waitFor(() => capture.waiting()[0], { what: 'a request in flight from the doomed worker' });
    const survivor = await stack.addWebhooks();

    await doomed.stop('SIGKILL');
    const killedAt = Date.now();
    capture.answer = () => 200;
    await waitFor(() => inFlight.abandonedAt !== null, { what: 'the killed worker’s connection to close' });
    // Events after the kill need the fan-out too, which the dead worker held.
    await blink(stack, clientIds('kill-after-', 2));
    const expected = await streamEventIds(stack, (id) => id.startsWith('kill-'));
    expect(expected).toHaveLength(14);
    await waitFor(() => capture.uniqueDelivered().length === expected.length, {
      timeoutMs: 4 * LOCK_MS + 5_000,
      what: 'every event after the kill',
    });
    const recoveredMs = Date.now() - killedAt;
    expect(capture.deliveredIds()).toEqual(expected);
    expect(inFlight.eventIds.every((id) => capture.uniqueDelivered().some((event) => event.id === id))).toBe(true);
    // The request that died was never answered, so nothing was accepted twice.
    expect(repeats(capture.deliveredEvents())).toBe(0);
    expect(expectPerClientOrder(capture.deliveredEvents())).toBe(7);
    expect(await metricValue(survivor.metricsPort, 'presence_webhook_events_delivered_total')).toBe(expected.length);
    await stack.stop();
    recordFigure({
      id: 'webhook-worker-crash',
      fault: 'Webhooks worker crash (SIGKILL) with a request in flight',
      test: `10 events queued for an endpoint whose requests hang; the worker sending one is SIGKILLed and a second worker runs (WEBHOOK_LOCK_MS=${LOCK_MS}); 4 more events after the kill`,
      measured: {
        'events delivered': `${capture.uniqueDelivered().length}/${expected.length}`,
        'events lost': expected.length - capture.uniqueDelivered().length,
        'events accepted twice': repeats(capture.deliveredEvents()),
        'all delivered after the kill (ms)': recoveredMs,
      },
    });
  });
});

describe('two webhooks workers', () => {
  it('deliver every event to each of 4 endpoints exactly once when none crashes', async () => {
    const stack = await stackOn(testRedisUrl());
    const workers = [await stack.addWebhooks(), await stack.addWebhooks()];
    const captures = await Promise.all([0, 1, 2, 3].map(() => receiver()));
    for (const capture of captures) await registerWebhook(stack.apiUrl, capture.url, 'two-');
    const ids = clientIds('two-', 30);
    for (let round = 0; round < 3; round += 1) await blink(stack, ids);
    const expected = await streamEventIds(stack, (id) => id.startsWith('two-'));
    expect(expected).toHaveLength(180);
    for (const capture of captures) {
      await waitFor(() => capture.uniqueDelivered().length === expected.length, {
        timeoutMs: 15_000,
        what: 'all 180 events at each endpoint',
      });
    }
    // A sentinel closes the window: an event sent twice would come before its events.
    await blink(stack, ['two-sentinel']);
    for (const capture of captures) {
      await waitFor(() => capture.uniqueDelivered().some((event) => event.clientId === 'two-sentinel' && event.type === 'offline'), {
        what: "the sentinel's events at each endpoint",
      });
    }
    const perWorker = await Promise.all(workers.map((w) => metricValue(w.metricsPort, 'presence_webhook_deliveries_total')));
    // A worker that stalls longer than WEBHOOK_LOCK_MS (a loaded machine) is, to the others, a crashed one.
    const stalls = (await Promise.all(workers.map((w) => metricValue(w.metricsPort, 'presence_webhook_stalls_total')))).reduce(
      (a, b) => a + b,
    );
    const sentTwice = captures.reduce((sum, c) => sum + repeats(c.requests.flatMap((r) => r.events)), 0);
    for (const capture of captures) {
      expect(capture.deliveredIds()).toEqual(expect.arrayContaining(expected));
      expect(capture.deliveredIds()).toHaveLength(expected.length + 2);
      expect(expectPerClientOrder(capture.deliveredEvents())).toBe(31);
    }
    // Not one event sent twice, answered or not, unless a worker stalled (the figure says how often).
    if (stalls === 0) expect(sentTwice, 'events sent twice while no worker stalled').toBe(0);
    await stack.stop();
    recordFigure({
      id: 'webhook-two-workers',
      fault: 'Two webhooks workers sharing the deliveries',
      test: '4 endpoints, 30 clients connecting and leaving 3 times (180 events each); both workers deliver',
      measured: {
        'events delivered per endpoint': `${captures.map((c) => c.uniqueDelivered().length).join(' / ')} of ${expected.length + 2}`,
        'events sent twice': sentTwice,
        'worker stalls (lock lapsed)': stalls,
        'requests by worker': perWorker.join(' / '),
      },
    });
  });
});

describe('Redis killed with events queued for a receiver that is down', () => {
  it('loses nothing that was in the streams when Redis comes back with its data (AOF)', async () => {
    const redis = await RedisServer.start({ appendOnly: true });
    servers.push(redis);
    const stack = await stackOn(redis.url, { redisMode: 'standalone' });
    const worker = await stack.addWebhooks();
    const capture = await receiver();
    const webhook = await registerWebhook(stack.apiUrl, capture.url, 'aof-');
    await capture.stop();
    await blink(stack, clientIds('aof-queued-', 5));
    await waitFor(async () => (await metricValue(worker.metricsPort, 'presence_webhook_pending_events', { endpoint: webhook.id })) === 10, {
      what: '10 events queued for the endpoint',
    });
    // These may still be in the streams only, not yet queued, when Redis dies.
    await blink(stack, clientIds('aof-late-', 5));
    await redis.kill();
    await redis.start();
    const restartedAt = Date.now();
    await capture.start();

    await waitFor(async () => (await streamEventIds(stack, (id) => id.startsWith('aof-'))).length === 20, {
      what: 'the streams to be back',
    });
    const expected = await streamEventIds(stack, (id) => id.startsWith('aof-'));
    await waitFor(() => capture.uniqueDelivered().length === 20, { timeoutMs: 15_000, what: 'all 20 events after the restart' });
    expect(capture.deliveredIds()).toEqual(expected);
    expect(expectPerClientOrder(capture.deliveredEvents())).toBe(10);
    recordFigure({
      id: 'webhook-redis-aof',
      fault: 'Redis crash (SIGKILL, AOF) with webhook events queued',
      test: 'receiver down; 10 events queued for it, 10 more just written; Redis SIGKILLed and restarted with its data; the receiver comes back',
      measured: {
        'events delivered': `${capture.uniqueDelivered().length}/20`,
        'events lost': 20 - capture.uniqueDelivered().length,
        'events accepted twice': repeats(capture.deliveredEvents()),
        'all delivered after the restart (ms)': Date.now() - restartedAt,
      },
    });
  });
});
