import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  mode: 'standalone' | 'cluster';
  /** Fail commands at once while disconnected instead of queueing them (callers retry). */
  failFast?: boolean;
  connectionName?: string;
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
