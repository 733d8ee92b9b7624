import { createRequire } from 'node:module';
import { effectiveSessionTtlMs, loadConfigOrExit } from '@presence/config';
import {
  ChannelStore,
  KeySpace,
  PresenceStore,
  answersPing,
  RedisReachability,
  closeRedisConnection,
  createRedisConnection,
  redisTarget,
  whenReady,
} from '@presence/presence-store';
import {
  createLogger,
  createMetricsRegistry,
  listenOrExit,
  onShutdown,
  registerRedisUpGauge,
  serveMetricsOrExit,
} from '@presence/telemetry';
import { edgeConfigSchema, effectiveFenceAfterMs } from './config.js';
import type { EdgeChannelStore } from './channel-ops.js';
import { createEdgeServer } from './edge-server.js';
import { createEdgeMetrics } from './metrics.js';
import { originPolicy } from './origin-policy.js';
import { httpWitness } from './redis-witness.js';
import { KeyConfigError, createTokenVerifier } from './token-verifier.js';

/** How long the witness may take to answer before its silence counts as "Redis is down". */
const WITNESS_TIMEOUT_MS = 1_000;
/** How long channel writes wait for their connection to be ready before failing fast like the others. */
const CHANNELS_CONNECT_WAIT_MS = 5_000;

const config = loadConfigOrExit(edgeConfigSchema, process.env);
const logger = createLogger({ service: 'edge', level: config.LOG_LEVEL, node: config.NODE_ID });
const fenceAfterMs = effectiveFenceAfterMs(config);
const connect = (name: string) =>
  createRedisConnection({
    ...redisTarget(config),
    failFast: true,
    connectionName: name,
    // Back within a fraction of FENCE_AFTER_MS after an outage, before the witness's "up" could fence this node.
    maxRetryDelayMs: Math.max(50, Math.min(2_000, Math.floor(fenceAfterMs / 4))),
  });
const redis = connect(`edge:${config.NODE_ID}`);
// The fence's probe: a PING that does not wait behind this node's own batches of writes.
const probeRedis = connect(`edge:${config.NODE_ID}:probe`);
// Channel writes on a connection of their own: a flood of JOINs never delays the session refreshes.
const channelRedis = connect(`edge:${config.NODE_ID}:channels`);
const reachability = new RedisReachability([redis, probeRedis, channelRedis], logger.child({ component: 'redis' }), {
  target: redisTarget(config),
});
const store = new PresenceStore(redis, {
  keys: new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT),
  eventsMaxLen: config.EVENTS_MAXLEN,
  lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
  nodeVersion: (createRequire(import.meta.url)('../package.json') as { version: string }).version,
});
const channels = new ChannelStore(channelRedis, {
  keys: store.keys,
  channelEventsMaxLen: config.CHANNEL_EVENTS_MAXLEN,
  updateEvents: config.CHANNEL_UPDATE_EVENTS,
});
// The connections come up one by one, at start-up and after an outage: a session registered over
// `redis` may JOIN (or, Redis having lost it, rejoin its channels) while this one is still
// connecting. Channel writes wait for it (one wait shared by all), at most 5 s, then fail fast.
let channelsConnecting: Promise<boolean> | null = null;
const channelsReady = (): Promise<boolean> | null => {
  if (channelRedis.status === 'ready') return null;
  channelsConnecting ??= whenReady(channelRedis, CHANNELS_CONNECT_WAIT_MS).finally(() => {
    channelsConnecting = null;
  });
  return channelsConnecting;
};
const edgeChannels: EdgeChannelStore = {
  join: async (...args) => (await channelsReady(), channels.join(...args)),
  leave: async (...args) => (await channelsReady(), channels.leave(...args)),
  setState: async (...args) => (await channelsReady(), channels.setState(...args)),
};
const registry = createMetricsRegistry('edge');
registerRedisUpGauge(registry, () => redis.ping());
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
  channels: edgeChannels,
  verifyToken,
  logger: logger.child({ component: 'edge-server' }),
  metrics: createEdgeMetrics(registry),
  witness: config.REDIS_WITNESS_URL === undefined ? null : httpWitness(config.REDIS_WITNESS_URL, WITNESS_TIMEOUT_MS),
  probeRedis: (timeoutMs) => answersPing(probeRedis, timeoutMs),
  options: {
    host: config.EDGE_HOST,
    port: config.EDGE_PORT,
    wsPort: config.EDGE_WS_PORT,
    origins: originPolicy(config.ALLOWED_ORIGINS, config.AUTH_MODE),
    wsCompression: false,
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
    maxChannelsPerSession: config.MAX_CHANNELS_PER_SESSION,
    channelWritesInFlight: config.CHANNEL_WRITES_IN_FLIGHT,
    fenceAfterMs,
  },
});
// After an outage, renew every deadline at once instead of waiting for the next backoff step.
redis.on('ready', () => edge.redisReady());

const listening = (portVariable: string, port: number) => ({ portVariable, port, hostVariable: 'EDGE_HOST', host: config.EDGE_HOST });
const address = await listenOrExit(listening('EDGE_PORT', config.EDGE_PORT), () => edge.listen());
const wsAddress = await listenOrExit(listening('EDGE_WS_PORT', config.EDGE_WS_PORT), () => edge.listenWebSocket());
// Ready means "send clients here": not while draining or fenced, nor before Redis has answered once
// (a wrong REDIS_URL). Through an outage of Redis for everyone it stays ready: the node keeps serving.
const notReady = () => edge.notReady() ?? (reachability.everReached ? null : reachability.problem());
const metricsServer = await serveMetricsOrExit(registry, listening('EDGE_METRICS_PORT', config.EDGE_METRICS_PORT), { notReady });
logger.info(
  { host: address.address, port: address.port, wsPort: wsAddress?.port ?? 0, metricsPort: config.EDGE_METRICS_PORT },
  'edge node listening',
);

onShutdown(logger, config.DRAIN_WINDOW_MS + config.DRAIN_TIMEOUT_MS + 5_000, async () => {
  reachability.stop();
  await edge.close();
  metricsServer?.close();
  await Promise.all([redis, probeRedis, channelRedis].map(closeRedisConnection));
});
