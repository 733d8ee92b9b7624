import type { Server } from 'node:http';
import { loadConfigOrExit } from '@presence/config';
import {
  ChannelStore,
  KeySpace,
  PresenceStore,
  RedisReachability,
  closeRedisConnection,
  createRedisConnection,
  redisTarget,
  whenReady,
} from '@presence/presence-store';
import { createLogger, createMetricsRegistry, listenOrExit, onShutdown, registerRedisUpGauge } from '@presence/telemetry';
import { WebhookStore } from '@presence/webhooks';
import { createApp } from './app.js';
import { ChannelFeed } from './channel-feed.js';
import { createChannelsRouter } from './routes/channels-router.js';
import { registerBacklogMetrics } from './backlog-metrics.js';
import { apiConfigSchema } from './config.js';
import { createDashboardRouter } from './routes/dashboard-router.js';
import { EventHub } from './event-hub.js';
import { EventTokens } from './event-token.js';
import { SseMetrics } from './sse-metrics.js';
import { createHttpServer } from './http-server.js';
import { createWebhooksRouter } from './routes/webhooks-router.js';
import { StatsHistory } from './stats-history.js';

const config = loadConfigOrExit(apiConfigSchema, process.env);
const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
const target = redisTarget(config);
const redis = createRedisConnection({
  ...target,
  failFast: true,
  connectionName: 'api',
  commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
});
const subscriber = createRedisConnection({ ...target, connectionName: 'api:events' });
const reachability = new RedisReachability([redis, subscriber], logger.child({ component: 'redis' }), { target });

const store = new PresenceStore(redis, {
  keys: new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT),
  eventsMaxLen: config.EVENTS_MAXLEN,
  lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
});
const hub = new EventHub(store, subscriber, logger.child({ component: 'event-hub' }), {
  pollMs: config.EVENTS_POLL_MS,
  maxBacklog: 100_000,
});
// Start even when Redis is down (requests then get 503), but don't race its first connection.
await whenReady(redis, 3_000);
await hub.start();
const channels = new ChannelStore(redis, { keys: store.keys });
const channelFeed = new ChannelFeed(channels, subscriber, logger.child({ component: 'channel-feed' }), { pollMs: config.EVENTS_POLL_MS });
channelFeed.start();
const registry = createMetricsRegistry('api');
registerRedisUpGauge(registry, () => redis.ping());
registerBacklogMetrics(registry, redis, store.keys);
const webhooks = new WebhookStore(redis, { keys: store.keys });
const history = new StatsHistory(redis, store, store.keys, logger.child({ component: 'stats-history' }), {
  intervalMs: config.DASHBOARD_SAMPLE_MS,
  keepMs: config.DASHBOARD_HISTORY_MS,
});
history.start();
const sseMetrics = new SseMetrics(registry);
const app = createApp({
  store,
  redis,
  hub,
  logger: logger.child({ component: 'http' }),
  registry,
  redisProblem: () => reachability.problem(),
  options: {
    sseKeepAliveMs: config.SSE_KEEPALIVE_MS,
    sseMaxBufferBytes: config.SSE_MAX_BUFFER_BYTES,
    apiTokens: config.API_TOKENS,
    metricsTokens: config.METRICS_TOKENS,
  },
  sseMetrics,
  channelsRouter: createChannelsRouter({
    channels,
    feed: channelFeed,
    sseMetrics,
    logger: logger.child({ component: 'channels' }),
    options: { sseKeepAliveMs: config.SSE_KEEPALIVE_MS, sseMaxBufferBytes: config.SSE_MAX_BUFFER_BYTES },
  }),
  eventTokens: new EventTokens(config.API_TOKENS, config.EVENT_TOKEN_TTL_MS),
  dashboardRouter: createDashboardRouter({ authRequired: config.API_TOKENS.length > 0, store, channels, history, webhooks }),
  webhooksRouter: createWebhooksRouter({
    store: webhooks,
    logger: logger.child({ component: 'webhooks' }),
    options: { adminTokens: config.ADMIN_TOKENS, apiTokens: config.API_TOKENS, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE },
  }),
});
const server: Server = createHttpServer(app);
await listenOrExit(
  { portVariable: 'API_PORT', port: config.API_PORT, hostVariable: 'API_HOST', host: config.API_HOST },
  () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.API_PORT, config.API_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    }),
);
// Idle keep-alive connections outlive the clients' own pool timeouts (undici: 4 s; load balancers:
// 60 s), so a client never sends a request on a connection the server is closing.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
logger.info({ host: config.API_HOST, port: config.API_PORT }, 'api listening');

onShutdown(logger, 10_000, async () => {
  reachability.stop();
  history.stop();
  hub.stop();
  channelFeed.stop();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all([redis, subscriber].map(closeRedisConnection));
});
