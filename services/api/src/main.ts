import type { Server } from 'node:http';
import { loadConfigOrExit } from '@presence/config';
import { KeySpace, PresenceStore, createRedisConnection, logRedisErrors, whenReady } from '@presence/presence-store';
import { createLogger, createMetricsRegistry, onShutdown } from '@presence/telemetry';
import { createApp } from './app.js';
import { apiConfigSchema } from './config.js';
import { EventHub } from './event-hub.js';
import { createHttpServer } from './http-server.js';

const config = loadConfigOrExit(apiConfigSchema, process.env);
const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
const redis = createRedisConnection({
  url: config.REDIS_URL, mode: config.REDIS_MODE, failFast: true, connectionName: 'api',
  commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
});
const subscriber = createRedisConnection({ url: config.REDIS_URL, mode: config.REDIS_MODE, connectionName: 'api:events' });
logRedisErrors(redis, logger.child({ component: 'redis' }));
logRedisErrors(subscriber, logger.child({ component: 'redis-subscriber' }));

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
const registry = createMetricsRegistry('api');
const app = createApp({
  store, redis, hub, logger: logger.child({ component: 'http' }), registry,
  options: {
    sseKeepAliveMs: config.SSE_KEEPALIVE_MS,
    sseMaxBufferBytes: config.SSE_MAX_BUFFER_BYTES,
    apiTokens: config.API_TOKENS,
    metricsTokens: config.METRICS_TOKENS,
  },
});
const server: Server = createHttpServer(app);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.API_PORT, config.API_HOST, () => resolve());
});
// Idle keep-alive connections outlive the clients' own pool timeouts (undici: 4 s; load balancers:
// 60 s), so a client never sends a request on a connection the server is closing.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
logger.info({ host: config.API_HOST, port: config.API_PORT }, 'api listening');

onShutdown(logger, 10_000, async () => {
  hub.stop();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all([redis, subscriber].map((client) => client.quit().catch(() => client.disconnect())));
});
