import { effectiveSessionTtlMs, loadConfigOrExit } from '@presence/config';
import { KeySpace, PresenceStore, createRedisConnection, logRedisErrors } from '@presence/presence-store';
import { createLogger, createMetricsRegistry, onShutdown, startMetricsServer } from '@presence/telemetry';
import { edgeConfigSchema } from './config.js';
import { createEdgeServer } from './edge-server.js';
import { createEdgeMetrics } from './metrics.js';
import { KeyConfigError, createTokenVerifier } from './token-verifier.js';

const config = loadConfigOrExit(edgeConfigSchema, process.env);
const logger = createLogger({ service: 'edge', level: config.LOG_LEVEL, node: config.NODE_ID });
const redis = createRedisConnection({
  url: config.REDIS_URL, mode: config.REDIS_MODE, failFast: true, connectionName: `edge:${config.NODE_ID}`,
});
logRedisErrors(redis, logger.child({ component: 'redis' }));
const store = new PresenceStore(redis, {
  keys: new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT),
  eventsMaxLen: config.EVENTS_MAXLEN,
  lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
});
const registry = createMetricsRegistry('edge');
function loadTokenVerifier() {
  if (config.AUTH_MODE !== 'jwt') return null;
  try {
    return createTokenVerifier({
      ...(config.JWT_SECRET !== undefined ? { secret: config.JWT_SECRET } : {}),
      ...(config.JWT_PUBLIC_KEY_FILE !== undefined ? { publicKeyFile: config.JWT_PUBLIC_KEY_FILE } : {}),
      ...(config.JWT_JWKS_FILE !== undefined ? { jwksFile: config.JWT_JWKS_FILE } : {}),
      clockToleranceSec: config.JWT_CLOCK_TOLERANCE_SEC,
    });
  } catch (error) {
    if (!(error instanceof KeyConfigError)) throw error;
    process.stderr.write(`config: ${error.message}\n`);
    process.exit(1);
  }
}
const verifyToken = loadTokenVerifier();
const edge = createEdgeServer({
  store,
  verifyToken,
  logger: logger.child({ component: 'edge-server' }),
  metrics: createEdgeMetrics(registry),
  options: {
    host: config.EDGE_HOST,
    port: config.EDGE_PORT,
    node: config.NODE_ID,
    heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    helloTimeoutMs: config.HELLO_TIMEOUT_MS,
    heartbeatCheck: config.HEARTBEAT_CHECK,
    sessionTtlMs: effectiveSessionTtlMs(config),
    sessionRefreshMs: config.SESSION_REFRESH_MS,
    logHeartbeats: config.LOG_HEARTBEATS,
    drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
    drainWindowMs: config.DRAIN_WINDOW_MS,
    offlineGraceMs: config.OFFLINE_GRACE_MS,
    maxConnections: config.MAX_CONNECTIONS,
    maxConnectionsPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
    maxFramesPerSecond: config.MAX_FRAMES_PER_SECOND,
    maxSessionsPerClient: config.MAX_SESSIONS_PER_CLIENT,
    maxStateBytes: config.MAX_STATE_BYTES,
  },
});
// After an outage, renew every deadline at once instead of waiting for the next backoff step.
redis.on('ready', () => edge.redisReady());

const address = await edge.listen();
const metricsServer =
  config.EDGE_METRICS_PORT > 0 ? await startMetricsServer(registry, config.EDGE_HOST, config.EDGE_METRICS_PORT) : null;
logger.info({ host: address.address, port: address.port, metricsPort: config.EDGE_METRICS_PORT }, 'edge node listening');

onShutdown(logger, config.DRAIN_WINDOW_MS + config.DRAIN_TIMEOUT_MS + 5_000, async () => {
  await edge.close();
  metricsServer?.close();
  await redis.quit().catch(() => redis.disconnect());
});
