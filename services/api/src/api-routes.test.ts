import type { PresenceStore } from '@presence/presence-store';
import type { WebhookStore } from '@presence/webhooks';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { API_ROUTES } from './api-routes.js';
import { createApp } from './app.js';
import type { EventHub } from './event-hub.js';
import type { ChannelFeed } from './channel-feed.js';
import { EventTokens } from './event-token.js';
import { createChannelsRouter } from './routes/channels-router.js';
import { SseMetrics } from './sse-metrics.js';
import { createDashboardRouter } from './routes/dashboard-router.js';
import { createWebhooksRouter } from './routes/webhooks-router.js';
import type { StatsHistory } from './stats-history.js';
import type { ChannelStore } from '@presence/presence-store';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every `method path` the app routes, walking its routers (express keeps them in `router.stack`). */
function routesOf(stack: readonly Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route !== undefined) {
      const path = layer.route.path;
      return Object.keys(layer.route.methods)
        .filter((method) => method !== '_all')
        .map((method) => `${method} ${path}`);
    }
    return layer.handle?.stack === undefined ? [] : routesOf(layer.handle.stack);
  });
}

describe('API_ROUTES', () => {
  it('documents exactly the routes the app serves', () => {
    // Nothing is called: the app is built only to list its routes.
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const store = { keys: { shardCount: 1 } } as unknown as PresenceStore;
    const hub = { observe: () => ({ close() {} }), subscriberCount: 0, ready: true } as unknown as EventHub;
    const registry = new Registry();
    const sseMetrics = new SseMetrics(registry);
    const app = createApp({
      store,
      redis: {} as Redis,
      hub,
      logger: logger as never,
      registry,
      sseMetrics,
      options: { apiTokens: [], metricsTokens: [], sseKeepAliveMs: 1_000, sseMaxBufferBytes: 1_000 },
      webhooksRouter: createWebhooksRouter({
        store: {} as WebhookStore,
        logger: logger as never,
        options: { adminTokens: [], apiTokens: [], allowPrivate: false },
      }),
      channelsRouter: createChannelsRouter({
        channels: {} as ChannelStore,
        feed: {} as ChannelFeed,
        logger: logger as never,
        sseMetrics,
        options: { sseKeepAliveMs: 1_000, sseMaxBufferBytes: 1_000 },
      }),
      dashboardRouter: createDashboardRouter({ authRequired: false, store, channels: {} as ChannelStore, history: {} as StatsHistory }),
      eventTokens: new EventTokens([], 60_000),
    });
    const served = routesOf((app as unknown as { router: { stack: Layer[] } }).router.stack);
    expect(served.length).toBeGreaterThan(10);
    // GET /v1/events is served by two routers (channels-router.ts takes it with `channels=`): one operation.
    expect([...new Set(served)].sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });
});
