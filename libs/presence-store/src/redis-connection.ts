import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** Where a service's Redis is (the redis settings every service shares, read by `redisTarget` of @presence/config). */
export interface RedisTarget {
  /** One URL; in cluster mode a comma-separated list of seed nodes, in sentinel mode of sentinels. */
  url: string;
  mode: 'standalone' | 'cluster' | 'sentinel';
  /** Sentinel mode: the name the sentinels monitor the master under. */
  sentinelMaster?: string;
  /** Sentinel mode: the sentinels' own password, when they have one. */
  sentinelPassword?: string;
}

/** The target the shared redis settings name (`redisSettings` of @presence/config, read by each service's main). */
export function redisTarget(settings: {
  REDIS_URL: string;
  REDIS_MODE: RedisTarget['mode'];
  REDIS_SENTINEL_MASTER: string;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}): RedisTarget {
  return {
    url: settings.REDIS_URL,
    mode: settings.REDIS_MODE,
    sentinelMaster: settings.REDIS_SENTINEL_MASTER,
    ...(settings.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
  };
}

export interface RedisConnectionOptions extends RedisTarget {
  /** Fail commands at once while disconnected instead of queueing them (callers retry). */
  failFast?: boolean;
  connectionName?: string;
  /** Fail a command that has no reply after this long (a hung Redis must not hang callers). */
  commandTimeoutMs?: number;
  /** Longest wait between two reconnection attempts (default 2000 ms). */
  maxRetryDelayMs?: number;
}

/** The longest wait between reconnection attempts: how late a service may notice that Redis is back. */
export const MAX_RETRY_DELAY_MS = 2_000;

/**
 * Opens a Redis client: one server, a Redis Cluster (`url` lists seed nodes) or the master a set of
 * sentinels name (`url` lists the sentinels). Reconnects forever with a capped backoff: services
 * outlive Redis restarts, and in sentinel mode every reconnection asks the sentinels where the master
 * is now, so a failover is a reconnection.
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis | Cluster {
  const maxDelay = options.maxRetryDelayMs ?? MAX_RETRY_DELAY_MS;
  const common: RedisOptions = {
    enableOfflineQueue: !options.failFast,
    maxRetriesPerRequest: options.failFast ? 0 : null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), maxDelay),
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  if (options.mode === 'cluster') {
    return new Cluster(urlList(options.url), {
      enableOfflineQueue: !options.failFast,
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), maxDelay),
      redisOptions: common,
    });
  }
  if (options.mode === 'sentinel') {
    const first = new URL(options.url.split(',')[0]?.trim() ?? '');
    return new Redis({
      ...common,
      sentinels: urlList(options.url),
      name: options.sentinelMaster ?? 'mymaster',
      ...(first.username !== '' ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password !== '' ? { password: decodeURIComponent(first.password) } : {}),
      ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
      // Not ioredis's failoverDetector: its +switch-master handler can abort a reconnection in progress,
      // which ends the client for good (status 'end'; seen in 1 of 4 clients in a failover). A
      // failover is found as a lost connection, or as READONLY from a demoted master, below.
      sentinelRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), maxDelay),
      // A demoted master (a failover while this client stayed connected) refuses writes: find the new one.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    });
  }
  return new Redis(options.url, common);
}

function urlList(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const url = new URL(entry.trim());
    return { host: url.hostname, port: Number(url.port || 6379) };
  });
}

/**
 * The Redis a target names, for log lines and readiness: URLs without their password, and the
 * variables to change (`set REDIS_URL`).
 */
export function describeRedisTarget(target: RedisTarget): string {
  const urls = target.url.split(',').map((entry) => withoutPassword(entry.trim()));
  switch (target.mode) {
    case 'standalone':
      return `Redis at ${urls[0]}`;
    case 'cluster':
      return `Redis Cluster (seed nodes ${urls.join(', ')})`;
    case 'sentinel':
      return `Redis master "${target.sentinelMaster ?? 'mymaster'}" (sentinels ${urls.join(', ')})`;
  }
}

/** The settings to check or change when the target can't be reached. */
export function redisTargetVariables(target: RedisTarget): string {
  return target.mode === 'sentinel'
    ? 'REDIS_URL and REDIS_SENTINEL_MASTER'
    : target.mode === 'cluster'
      ? 'REDIS_URL and REDIS_MODE'
      : 'REDIS_URL';
}

function withoutPassword(entry: string): string {
  try {
    const url = new URL(entry);
    if (url.password !== '') url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return entry;
  }
}

/**
 * Closes a client at shutdown: QUIT when connected (the replies of commands in flight arrive first),
 * else at once, since a QUIT queued for a Redis that is away would wait for it.
 */
export async function closeRedisConnection(redis: Redis | Cluster): Promise<void> {
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}

/** Whether the client's PING is answered within `timeoutMs` (never rejects; a late answer is ignored). */
export async function answersPing(redis: Redis | Cluster, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answered = redis.ping().then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when the client is ready or after `timeoutMs`, whichever comes first (never rejects). */
export function whenReady(redis: Redis | Cluster, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}
