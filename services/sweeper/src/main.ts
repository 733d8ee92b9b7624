import { effectiveSessionTtlMs, loadConfigOrExit } from '@presence/config';
import { KeySpace, PresenceStore, createRedisConnection, logRedisErrors } from '@presence/presence-store';
import { createLogger, createMetricsRegistry, onShutdown, startMetricsServer } from '@presence/telemetry';
import { sweeperConfigSchema } from './config.js';
import { RedisContact } from './redis-contact.js';
import { createSweeper } from './sweeper.js';

const config = loadConfigOrExit(sweeperConfigSchema, process.env);
const logger = createLogger({ service: 'sweeper', level: config.LOG_LEVEL, node: config.NODE_ID });
const connect = (name: string) =>
  createRedisConnection({ url: config.REDIS_URL, mode: config.REDIS_MODE, connectionName: `sweeper:${config.NODE_ID}:${name}` });
const redis = connect('store');
const queueRedis = connect('queue');
const workerRedis = connect('worker');
for (const client of [redis, queueRedis, workerRedis]) logRedisErrors(client, logger.child({ component: 'redis' }));

const store = new PresenceStore(redis, {
  keys: new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT),
  eventsMaxLen: config.EVENTS_MAXLEN,
  lastSeenTtlMs: config.LAST_SEEN_TTL_MS,
});
const registry = createMetricsRegistry('sweeper');
const holdoffMs = config.SWEEP_HOLDOFF_MS > 0 ? config.SWEEP_HOLDOFF_MS : effectiveSessionTtlMs(config) + config.SESSION_REFRESH_MS;
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
await contact.start();
await sweeper.start();
// An empty Redis (restarted without persistence) has lost the job schedulers: put them back on
// every reconnect, and now and then in case a reconnect went unnoticed.
let everConnected = queueRedis.status === 'ready';
queueRedis.on('ready', () => {
  if (everConnected) void sweeper.schedule().catch((err: unknown) => logger.warn({ err }, 'rescheduling sweeps failed'));
  everConnected = true;
});
const rescheduleTimer = setInterval(() => void sweeper.schedule().catch(() => {}), 30_000);
const metricsServer =
  config.SWEEPER_METRICS_PORT > 0
    ? await startMetricsServer(registry, config.SWEEPER_HOST, config.SWEEPER_METRICS_PORT)
    : null;

onShutdown(logger, 10_000, async () => {
  clearInterval(rescheduleTimer);
  contact.stop();
  await sweeper.close();
  metricsServer?.close();
  await Promise.all([redis, queueRedis, workerRedis].map((client) => client.quit().catch(() => client.disconnect())));
});
