import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { inject } from 'vitest';
import { ChannelStore, KeySpace, PresenceStore, createRedisConnection } from '@presence/presence-store';

/** A key prefix of a test's own, so tests share one Redis without seeing each other's keys. */
export function testPrefix(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function testRedisMode(): 'standalone' | 'cluster' {
  return inject('redisMode');
}

/** A client of the shared test Redis: a Cluster client when the suite runs against a cluster. */
export function connectTestRedis(url: string = testRedisUrl()): Redis {
  // Typed as Redis for the tests' convenience; every command they use exists on Cluster too.
  return createRedisConnection({ url, mode: testRedisMode() }) as Redis;
}

export function createTestStore(
  redis: Redis | Cluster,
  options: { prefix?: string; shards?: number; lastSeenTtlMs?: number } = {},
): PresenceStore {
  return new PresenceStore(redis, {
    keys: new KeySpace(options.prefix ?? testPrefix(), options.shards ?? 4),
    eventsMaxLen: 10_000,
    lastSeenTtlMs: options.lastSeenTtlMs ?? 60_000,
  });
}

/** A presence store of a test's own (createTestStore) and the channel store on its key space. */
export interface TestChannels {
  store: PresenceStore;
  channels: ChannelStore;
}

export function createTestChannels(redis: Redis | Cluster): TestChannels {
  const store = createTestStore(redis);
  return { store, channels: new ChannelStore(redis, { keys: store.keys }) };
}
