import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { KeySpace, PresenceStore } from '@presence/presence-store';

/** A key prefix of a test's own, so tests share one Redis without seeing each other's keys. */
export function testPrefix(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function connectTestRedis(url: string = testRedisUrl()): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1 });
}

export function createTestStore(redis: Redis, options: { prefix?: string; shards?: number } = {}): PresenceStore {
  return new PresenceStore(redis, {
    keys: new KeySpace(options.prefix ?? testPrefix(), options.shards ?? 4),
    eventsMaxLen: 10_000,
    lastSeenTtlMs: 60_000,
  });
}
