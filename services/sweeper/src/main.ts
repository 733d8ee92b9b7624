import { createRequire } from 'node:module';
import { effectiveSessionTtlMs, loadConfigOrExit } from '@presence/config';
import {
  ChannelStore,
  KeySpace,
  MAX_RETRY_DELAY_MS,
  PresenceStore,
  RedisReachability,
  closeRedisConnection,
  createRedisConnection,
  isRedisUnavailable,
  redisTarget,
} from '@presence/presence-store';
import { createLogger, createMetricsRegistry, onShutdown, registerRedisUpGauge, serveMetricsOrExit } from '@presence/telemetry';
import { createChannelOutbox } from './channel-outbox.js';
import { sweeperConfigSchema } from './config.js';
import { RedisContact } from './redis-contact.js';
import { createSweeper } from './sweeper.js';
import { startSweeperBeat } from './sweeper-beat.js';

const config = loadConfigOrExit(sweeperConfigSchema, process.env);
const logger = createLogger({ service: 'sweeper', level: config.LOG_LEVEL, node: config.NODE_ID });
const target = redisTarget(config);
const connect = (name: string) => createRedisConnection({ ...target, connectionName: `sweeper:${config.NODE_ID}:${name}` });
const redis = connect('store');
const queueRedis = connect('queue');
const workerRedis = connect('worker');
const channelRedis = connect('channels');
const doorbellRedis = connect('channel-doorbell');
const clients = [redis, queueRedis, workerRedis, channelRedis, doorbellRedis];
const reachability = new RedisReachability(clients, logger.child({ component: 'redis' }), { target });

const store = new PresenceStore(redis, {
  keys: new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT),
  eventsMaxLen: config.EVENTS_MAXLEN,
  lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
  nodeVersion: (createRequire(import.meta.url)('../package.json') as { version: string }).version,
});
const registry = createMetricsRegistry('sweeper');
registerRedisUpGauge(registry, () => redis.ping());
// Edges may notice Redis is back up to one reconnection delay late, then renew every deadline at once.
const holdoffMs =
  config.SWEEP_HOLDOFF_MS > 0 ? config.SWEEP_HOLDOFF_MS : effectiveSessionTtlMs(config) + config.SESSION_REFRESH_MS + MAX_RETRY_DELAY_MS;
const probeMs = Math.min(500, config.SWEEP_INTERVAL_MS);
const contact = new RedisContact(redis, logger.child({ component: 'redis-contact' }), { holdoffMs, probeMs });
const sweeper = createSweeper({
  contact,
  store,
  queueConnection: queueRedis,
  workerConnection: workerRedis,
  logger: logger.child({ component: 'sweeper' }),
  registry,
  options: {
    intervalMs: config.SWEEP_INTERVAL_MS,
    jobMs: config.SWEEP_JOB_MS,
    lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
    // The same bound as the contact's stall detection: no reply for 3 probe periods.
    lateAfterMs: 3 * probeMs,
    batch: config.SWEEP_BATCH,
    concurrency: config.SWEEP_CONCURRENCY,
    partitions: config.SWEEP_PARTITIONS,
    workerName: config.NODE_ID,
  },
});

// The dashboard lists the sweepers by these heartbeats.
const beat = startSweeperBeat(store, { node: config.NODE_ID, intervalMs: config.SESSION_REFRESH_MS, ttlMs: effectiveSessionTtlMs(config) });

// Up before Redis answers: /healthz says the process runs, /readyz why it does not sweep yet.
let started = false;
const notReady = () => reachability.problem() ?? (started ? null : 'starting: waiting for Redis to schedule the sweeps');
const metricsServer = await serveMetricsOrExit(
  registry,
  { portVariable: 'SWEEPER_METRICS_PORT', port: config.SWEEPER_METRICS_PORT, hostVariable: 'SWEEPER_HOST', host: config.SWEEPER_HOST },
  { notReady },
);
const channelOutbox = createChannelOutbox({
  channels: new ChannelStore(channelRedis, {
    keys: store.keys,
    channelEventsMaxLen: config.CHANNEL_EVENTS_MAXLEN,
    updateEvents: config.CHANNEL_UPDATE_EVENTS,
  }),
  subscriber: doorbellRedis,
  logger: logger.child({ component: 'channel-outbox' }),
  registry,
  options: { intervalMs: config.CHANNEL_OUTBOX_INTERVAL_MS, batch: config.CHANNEL_OUTBOX_BATCH },
});
let rescheduleTimer: NodeJS.Timeout | null = null;
onShutdown(logger, 10_000, async () => {
  if (rescheduleTimer !== null) clearInterval(rescheduleTimer);
  await beat.stop();
  reachability.stop();
  contact.stop();
  await sweeper.close();
  await channelOutbox.close();
  metricsServer?.close();
  await Promise.all(clients.map(closeRedisConnection));
});

await contact.start();
await sweeper.start();
channelOutbox.start();
started = true;
// An empty Redis (restarted without persistence) has lost the job schedulers: put them back on
// every reconnect, and now and then in case a reconnect went unnoticed.
const reschedule = () =>
  sweeper.schedule().catch((err: unknown) => {
    if (!isRedisUnavailable(err)) logger.warn({ err }, 'rescheduling sweeps failed');
  });
let everConnected = queueRedis.status === 'ready';
queueRedis.on('ready', () => {
  if (everConnected) void reschedule();
  everConnected = true;
});
rescheduleTimer = setInterval(() => void reschedule(), 30_000);
