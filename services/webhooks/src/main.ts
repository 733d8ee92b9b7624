import { loadConfigOrExit } from '@presence/config';
import {
  ChannelStore,
  KeySpace,
  PresenceStore,
  RedisReachability,
  closeRedisConnection,
  createRedisConnection,
  redisTarget,
} from '@presence/presence-store';
import { createLogger, createMetricsRegistry, onShutdown, registerRedisUpGauge, serveMetricsOrExit } from '@presence/telemetry';
import { WebhookStore } from '@presence/webhooks';
import { channelEventFromMessage, eventFromMessage, parseEventId } from '@presence/wire-format';
import { webhooksConfigSchema } from './config.js';
import { syncConfigEndpoints } from './config-endpoints.js';
import { createDelivery } from './delivery.js';
import { createFanOut } from './fan-out.js';
import { createSender } from './http-sender.js';
import { registerWebhookMetrics } from './metrics.js';

const config = loadConfigOrExit(webhooksConfigSchema, process.env);
const logger = createLogger({ service: 'webhooks', level: config.LOG_LEVEL, node: config.NODE_ID });
const target = redisTarget(config);
const connect = (name: string) => createRedisConnection({ ...target, connectionName: `webhooks:${config.NODE_ID}:${name}` });
const redis = connect('store');
// The fan-out's reads and writes on a connection of their own, so that a large batch read for a
// delivery never waits behind them (or they behind it).
const fanOutRedis = connect('fan-out');
const queueRedis = connect('queue');
const workerRedis = connect('worker');
const subscriber = connect('events');
const clients = [redis, fanOutRedis, queueRedis, workerRedis, subscriber];
const reachability = new RedisReachability(clients, logger.child({ component: 'redis' }), { target });

const keys = new KeySpace(config.KEY_PREFIX, config.SHARD_COUNT);
const presence = new PresenceStore(fanOutRedis, { keys, eventsMaxLen: config.EVENTS_MAXLEN, lastSeenTtlMs: 1_000 });
// Read only: the channels' streams the endpoints name.
const channels = new ChannelStore(fanOutRedis, { keys });
const store = new WebhookStore(redis, { keys });
const fanOutStore = new WebhookStore(fanOutRedis, { keys });
const registry = createMetricsRegistry('webhooks');
registerRedisUpGauge(registry, () => redis.ping());
const metrics = registerWebhookMetrics(registry, store);
const sender = createSender({ timeoutMs: config.WEBHOOK_TIMEOUT_MS });
const delivery = createDelivery({
  store,
  send: sender.send,
  queueConnection: queueRedis,
  workerConnection: workerRedis,
  logger: logger.child({ component: 'delivery' }),
  metrics,
  options: {
    batch: config.WEBHOOK_BATCH,
    maxDeadLetters: config.WEBHOOK_DEAD_LETTERS_MAX,
    retryForMs: config.WEBHOOK_RETRY_FOR_MS,
    backoffMs: config.WEBHOOK_BACKOFF_MS,
    backoffMaxMs: config.WEBHOOK_BACKOFF_MAX_MS,
    concurrency: config.WEBHOOK_CONCURRENCY,
    rateLimit: config.WEBHOOK_RATE_LIMIT,
    guardApiEndpoints: !config.WEBHOOK_ALLOW_PRIVATE,
    lockMs: config.WEBHOOK_LOCK_MS,
    workerName: config.NODE_ID,
  },
});
const fanOut = createFanOut({
  store: fanOutStore,
  read: (source, afterId, count) =>
    source.stream.kind === 'shard'
      ? presence.readEvents(source.stream.shard, afterId, count)
      : channels.readEvents(source.stream.channel, afterId, count),
  wake: (endpoint) => delivery.wake(endpoint),
  reconcile: () => delivery.reconcile(),
  logger: logger.child({ component: 'fan-out' }),
  metrics,
  options: { readCount: 500, pollMs: config.WEBHOOK_POLL_MS, leaseMs: config.WEBHOOK_LOCK_MS, workerName: config.NODE_ID },
});

// The events channel rings the doorbell of the event's shard, the channel events channel that of
// the event's channel (read only if an endpoint names it); the webhooks channel says endpoints
// changed (read them again; abort requests to deleted ones) or dead letters were queued again.
subscriber.on('message', (channel: string, message: string) => {
  if (channel === keys.eventsChannel) {
    const shard = parseEventId(eventFromMessage(message)?.id ?? '')?.shard;
    const source = shard === undefined ? undefined : store.shardSources[shard];
    if (source !== undefined) fanOut.ring(source.source);
    return;
  }
  if (channel === keys.channelEventsChannel) {
    const name = channelEventFromMessage(message)?.channel;
    if (name !== undefined) fanOut.ring(keys.webhookChannelSource(name).source);
    return;
  }
  const notice = WebhookStore.parseNotice(message);
  if (notice?.kind === 'changed') {
    fanOut.endpointsChanged();
    void delivery.abortDeleted().catch(() => {});
  } else if (notice?.kind === 'queued') void delivery.wake(notice.endpoint).catch(() => {});
});
await subscriber.subscribe(keys.eventsChannel, keys.channelEventsChannel, keys.webhooks.channel);

// Up before Redis answers: /healthz says the process runs, /readyz why it does not deliver yet.
let started = false;
const notReady = () => reachability.problem() ?? (started ? null : 'starting: waiting for Redis');
const metricsServer = await serveMetricsOrExit(
  registry,
  { portVariable: 'WEBHOOKS_METRICS_PORT', port: config.WEBHOOKS_METRICS_PORT, hostVariable: 'WEBHOOKS_HOST', host: config.WEBHOOKS_HOST },
  { notReady },
);
await syncConfigEndpoints(store, { urls: config.WEBHOOK_URLS, secret: config.WEBHOOK_SECRET, events: config.WEBHOOK_EVENTS }, logger);
await delivery.start();
await fanOut.start();
started = true;
logger.info({ shards: keys.shardCount, fanOut: fanOut.holding ? 'this replica' : 'another replica' }, 'webhooks worker started');

onShutdown(logger, 15_000, async () => {
  await fanOut.stop();
  // Waits for the requests in flight (at most WEBHOOK_TIMEOUT_MS); an unfinished one is run again by another replica.
  await delivery.close();
  sender.close();
  metricsServer?.close();
  reachability.stop();
  await Promise.all(clients.map(closeRedisConnection));
});
