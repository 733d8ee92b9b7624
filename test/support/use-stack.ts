import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import type { PresenceStore } from '@presence/presence-store';
import { SseClient } from './sse-client.js';
import { Stack, type StackOptions } from './stack.js';
import { connectTestRedis, createTestStore, testRedisUrl } from './test-store.js';
import { waitFor } from './wait-for.js';

/**
 * A stand-in, usable at module scope, for a value that a `beforeAll` creates: every property read
 * goes to the value once it is there (methods bound to it), and fails with a clear message before.
 */
export function lateBound<T extends object>(what: string): { handle: T; set(value: T): void; value(): T | undefined } {
  let current: T | undefined;
  const target = (): T => {
    if (current === undefined) throw new Error(`${what} is not there yet: use it in a test or a hook after its beforeAll`);
    return current;
  };
  const handle = new Proxy({} as T, {
    get(_, property) {
      const value: unknown = Reflect.get(target(), property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target()) : value;
    },
    set(_, property, value) {
      return Reflect.set(target(), property, value);
    },
    has: (_, property) => Reflect.has(target(), property),
    getPrototypeOf: () => Reflect.getPrototypeOf(target()),
  });
  return { handle, set: (value) => (current = value), value: () => current };
}

/**
 * The end-to-end tests' stack: started as processes before the file's tests (on the suite's Redis
 * unless `redisUrl` says otherwise), stopped after them. Hooks a file registers later run after the
 * start and before the stop (vitest runs afterAll hooks in reverse order).
 */
export function useStack(options: Partial<StackOptions> = {}): Stack {
  const stack = lateBound<Stack>('the stack');
  beforeAll(async () => {
    stack.set(await Stack.start({ redisUrl: testRedisUrl(), ...options }));
  });
  afterAll(async () => {
    await stack.value()?.stop();
  });
  return stack.handle;
}

/** An SSE stream of the stack's events (`path` on its API), open before the tests and closed after them. */
export function useEvents(stack: Stack, path = '/v1/events'): SseClient {
  const live = lateBound<SseClient>('the SSE stream');
  beforeAll(async () => {
    const client = await SseClient.open(`${stack.apiUrl}${path}`);
    live.set(client);
    await waitFor(() => client.lastEventId !== null, { what: 'the SSE stream to open' });
  });
  afterAll(() => live.value()?.close());
  return live.handle;
}

/** A client of the suite's Redis and a store over the stack's keys, for tests that look at Redis directly. */
export function useTestStore(stack: Stack, shards = 4): { redis: Redis; store: PresenceStore } {
  const redis = lateBound<Redis>('the test Redis client');
  const store = lateBound<PresenceStore>('the test store');
  beforeAll(() => {
    const client = connectTestRedis();
    redis.set(client);
    store.set(createTestStore(client, { prefix: stack.prefix, shards }));
  });
  afterAll(() => redis.value()?.disconnect());
  return { redis: redis.handle, store: store.handle };
}
