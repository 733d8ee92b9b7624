import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  mode: 'standalone' | 'cluster';
  /** Fail commands at once while disconnected instead of queueing them (callers retry). */
  failFast?: boolean;
  connectionName?: string;
  /** Fail a command that has no reply after this long (a hung Redis must not hang callers). */
  commandTimeoutMs?: number;
}

/**
 * Opens a Redis (or Redis Cluster) client. In cluster mode `url` is a comma-separated list of seed
 * nodes. Reconnects forever with a capped backoff: services outlive Redis restarts.
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis | Cluster {
  const common: RedisOptions = {
    enableOfflineQueue: !options.failFast,
    maxRetriesPerRequest: options.failFast ? 0 : null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  if (options.mode === 'cluster') {
    const nodes = options.url.split(',').map((entry) => {
      const url = new URL(entry.trim());
      return { host: url.hostname, port: Number(url.port || 6379) };
    });
    return new Cluster(nodes, {
      enableOfflineQueue: !options.failFast,
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
      redisOptions: common,
    });
  }
  return new Redis(options.url, common);
}

export function isCluster(redis: Redis | Cluster): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/**
 * Logs Redis connection trouble without flooding: the first error of an outage, then at most one
 * line every 30 s, and one line when the connection is back.
 */
export function logRedisErrors(
  redis: Redis | Cluster,
  logger: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void },
): void {
  let lastLogged = 0;
  let down = false;
  redis.on('error', (err: Error) => {
    const now = Date.now();
    if (!down || now - lastLogged > 30_000) {
      logger.warn({ err: { message: err.message } }, 'redis connection error');
      lastLogged = now;
    }
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({}, 'redis connection restored');
    down = false;
  });
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
