import express from 'express';
import type { PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { apiDocument } from './api-routes.js';
import { bearerAuth } from './bearer-auth.js';
import type { EventHub } from './event-hub.js';
import { apiAuth, type EventTokens } from './event-token.js';
import { errorHandler, sendError } from './http-errors.js';
import { hasBody } from './validate.js';
import { requestMetrics } from './request-metrics.js';
import { createDocsRouter } from './routes/docs-router.js';
import { createEventTokenRouter } from './routes/event-token-router.js';
import { createEventsRouter } from './routes/events-router.js';
import { SseMetrics } from './sse-metrics.js';
import { createHealthRouter } from './routes/health-router.js';
import { createMetricsRouter } from './routes/metrics-router.js';
import { createPresenceRouter } from './routes/presence-router.js';
import { createSdkRouter } from './routes/sdk-router.js';
import { createStatsRouter } from './routes/stats-router.js';

export interface AppOptions {
  /** Bearer tokens accepted on /v1/*; empty: no authentication. */
  apiTokens: readonly string[];
  /** Bearer tokens accepted on /metrics; empty: open. */
  metricsTokens: readonly string[];
  /** Comment line sent on idle SSE streams so proxies and clients know the stream is alive. */
  sseKeepAliveMs: number;
  /** Bytes an SSE subscriber may leave unread before it is dropped (it can resume). */
  sseMaxBufferBytes: number;
}

export interface AppDeps {
  store: PresenceStore;
  redis: Redis | Cluster;
  hub: EventHub;
  logger: Logger;
  registry: Registry;
  options: AppOptions;
  /** The admin API for webhooks (routes/webhooks-router.ts), with its own tokens; absent in tests that don't need it. */
  webhooksRouter?: express.Router;
  /** Channel presence routes and the `channels=` event stream (routes/channels-router.ts). */
  channelsRouter?: express.Router;
  /** The live dashboard (routes/dashboard-router.ts); absent in tests that don't need it. */
  dashboardRouter?: express.Router;
  /** Query tokens for the event stream (event-token.ts): POST /v1/events/token, `?access_token=` on GET /v1/events. */
  eventTokens?: EventTokens;
  /** Why Redis is out of reach, naming where it is looked for and the variable to set (RedisReachability). */
  redisProblem?: () => string | null;
  /** The SSE metrics, shared with the channels router when there is one; made here otherwise. */
  sseMetrics?: SseMetrics;
}

/**
 * The HTTP API: one router per resource (routes/), each with its OpenAPI description (api-routes.ts).
 * Routers carry their full paths, so request metrics name routes by them. Routes outside /v1 are
 * open or check their own tokens (/metrics).
 */
export function createApp(deps: AppDeps): express.Express {
  const { store, hub, logger, registry, options } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestMetrics(registry));
  const parseJson = express.json({ limit: '256kb' });
  app.use((req, res, next) => (hasBody(req) ? parseJson(req, res, next) : next()));

  // The admin API checks its own tokens, so it comes before the read tokens' check on /v1.
  if (deps.webhooksRouter !== undefined) app.use(deps.webhooksRouter);
  app.use(createSdkRouter());
  // Without tokens the check lets everything in: no layer at all saves every /v1 request a step.
  // With query tokens, GET /v1/events also takes `?access_token=` (event-token.ts).
  if (options.apiTokens.length > 0) {
    app.use(
      '/v1',
      deps.eventTokens === undefined ? bearerAuth(options.apiTokens, 'presence') : apiAuth(options.apiTokens, deps.eventTokens),
    );
  }
  // The hottest routes first: each router a request passes through costs it a little CPU.
  app.use(createPresenceRouter(store));
  // Before the events router: it takes GET /v1/events?channels= (the channel event stream).
  if (deps.channelsRouter !== undefined) app.use(deps.channelsRouter);
  app.use(createStatsRouter(store));
  app.use(createEventsRouter({ store, hub, logger, registry, options, sseMetrics: deps.sseMetrics ?? new SseMetrics(registry) }));
  app.use(createHealthRouter({ redis: deps.redis, eventsReady: () => hub.ready, redisProblem: deps.redisProblem }));
  app.use(createMetricsRouter({ store, registry, metricsTokens: options.metricsTokens }));
  app.use(createDocsRouter({ document: apiDocument() }));
  if (deps.eventTokens !== undefined) app.use(createEventTokenRouter(deps.eventTokens));
  if (deps.dashboardRouter !== undefined) app.use(deps.dashboardRouter);

  app.use((_req, res) => sendError(res, 404, 'not_found', 'no such route; see the README for the API'));
  app.use(errorHandler(logger));
  return app;
}
