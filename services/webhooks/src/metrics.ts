import type { LaneStats, WebhookStore } from '@presence/webhooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FailureReason } from './http-sender.js';

const FAILURE_REASONS: readonly FailureReason[] = [
  'status_4xx',
  'status_5xx',
  'redirect',
  'timeout',
  'connection',
  'address_refused',
  'aborted',
];

export interface WebhookMetrics {
  deliveries: Counter;
  failures: Counter<'reason'>;
  retries: Counter;
  stalls: Counter;
  eventsQueued: Counter;
  eventsDelivered: Counter;
  eventsDeadLettered: Counter;
  requestSeconds: Histogram;
  eventDelaySeconds: Histogram;
  fanOutDelaySeconds: Histogram;
}

/**
 * The worker's metrics (README, "Metrics and logs"). Counters are per replica (add them up); the
 * per-endpoint gauges are read from Redis at each scrape, so every replica reports the same
 * deployment-wide values (combine them with max). Cost per scrape: HGETALL of the endpoints, TIME,
 * and per source one pipeline of three O(1) calls per endpoint.
 */
export function registerWebhookMetrics(registry: Registry, store: WebhookStore): WebhookMetrics {
  const registers = [registry];
  const failures = new Counter({
    name: 'presence_webhook_failures_total',
    help: 'Webhook requests that failed, by reason: status_4xx, status_5xx, redirect, timeout, connection, address_refused, aborted',
    labelNames: ['reason'],
    registers,
  });
  // Every series exists from the start, so that the first failure is an increase rate() sees.
  for (const reason of FAILURE_REASONS) failures.inc({ reason }, 0);

  let reading: Promise<{ now: number; stats: Map<string, LaneStats> } | null> | null = null;
  const read = () => {
    reading ??= (async () => {
      const endpoints = await store.listEndpoints();
      const [now, stats] = await Promise.all([store.now(), store.laneStats(endpoints)]);
      return { now, stats };
    })()
      .catch(() => null)
      .finally(() => {
        reading = null;
      });
    return reading;
  };
  const perEndpoint = (name: string, help: string, value: (stats: LaneStats, now: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['endpoint'],
      registers,
      async collect() {
        this.reset();
        const snapshot = await read();
        for (const [endpoint, stats] of snapshot?.stats ?? []) this.set({ endpoint }, value(stats, snapshot?.now ?? 0));
      },
    });
  perEndpoint(
    'presence_webhook_dead_letters',
    'Dead letters held per endpoint (events given up on after WEBHOOK_RETRY_FOR_MS)',
    (s) => s.dead,
  );
  perEndpoint('presence_webhook_pending_events', 'Events queued per endpoint, not delivered yet', (s) => s.queued);
  perEndpoint('presence_webhook_lag_seconds', 'How long the oldest queued event of an endpoint has waited (0: none waits)', (s, now) =>
    s.oldestQueuedAt === null ? 0 : Math.max(0, now - s.oldestQueuedAt) / 1000,
  );

  return {
    deliveries: new Counter({ name: 'presence_webhook_deliveries_total', help: 'Webhook requests answered with a 2xx', registers }),
    failures,
    retries: new Counter({ name: 'presence_webhook_retries_total', help: 'Webhook requests that retried a failed one', registers }),
    stalls: new Counter({
      name: 'presence_webhook_stalls_total',
      help:
        'Delivery jobs whose lock lapsed (this replica stalled longer than WEBHOOK_LOCK_MS): ' +
        'another replica took them over, and their last batch may arrive twice',
      registers,
    }),
    eventsQueued: new Counter({
      name: 'presence_webhook_events_queued_total',
      help: 'Events the fan-out queued for endpoints (one per event and endpoint)',
      registers,
    }),
    eventsDelivered: new Counter({
      name: 'presence_webhook_events_delivered_total',
      help: 'Events in requests answered with a 2xx',
      registers,
    }),
    eventsDeadLettered: new Counter({
      name: 'presence_webhook_events_dead_lettered_total',
      help: 'Events moved to dead letters when their retry window ended',
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'presence_webhook_request_seconds',
      help: 'Webhook request duration, answered or not',
      registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    fanOutDelaySeconds: new Histogram({
      name: 'presence_webhook_fan_out_delay_seconds',
      help:
        'From an event (its `at`) to its queueing for an endpoint (Redis time), observed when it is delivered: ' +
        "the fan-out's share of presence_webhook_event_delay_seconds",
      registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 60],
    }),
    eventDelaySeconds: new Histogram({
      name: 'presence_webhook_event_delay_seconds',
      help: "From an event (its `at`, Redis time) to the 2xx of the request that delivered it (this replica's clock)",
      registers,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    }),
  };
}
