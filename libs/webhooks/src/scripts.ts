import { defineVersionedCommand, loadScript } from '@presence/presence-store';
import type { Cluster, Redis, RedisKey, Result } from 'ioredis';

/** The scripts, by file: lua/<name>-<N>.lua with N KEYS, defined as `webhooks:<file>:<hash>` (as the store's). */
export type WebhookScriptFile = 'fan-out-3' | 'start-source-3' | 'retire-2' | 'claim-2' | 'release-1' | 'expire-2' | 'replay-2' | 'lease-1';

// Typed custom commands (ioredis's declaration merging), keys first then ARGV, as in each script's
// header. Replies are `unknown` until the store has checked them.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    [command: `webhooks:fan-out-3:${string}`]: (
      ...args: [
        cursor: RedisKey,
        version: RedisKey,
        events: RedisKey,
        from: string,
        to: string,
        version: string,
        group: string,
        lanePrefix: string,
        // Per endpoint: its id, n, then n event JSON strings.
        ...lanes: (string | number)[],
      ]
    ) => Result<unknown, Context>;
    [command: `webhooks:start-source-3:${string}`]: (
      cursor: RedisKey,
      version: RedisKey,
      events: RedisKey,
      expectedVersion: string,
    ) => Result<unknown, Context>;
    [command: `webhooks:retire-2:${string}`]: (endpoints: RedisKey, deleting: RedisKey, endpoint: string) => Result<unknown, Context>;
    [command: `webhooks:claim-2:${string}`]: (
      jobs: RedisKey,
      seq: RedisKey,
      endpoint: string,
      expected: string,
    ) => Result<unknown, Context>;
    [command: `webhooks:release-1:${string}`]: (jobs: RedisKey, endpoint: string, job: string) => Result<unknown, Context>;
    [command: `webhooks:expire-2:${string}`]: (
      queue: RedisKey,
      dead: RedisKey,
      cutoffMs: number,
      limit: number,
      attempts: number,
      error: string,
      maxLen: number,
    ) => Result<unknown, Context>;
    [command: `webhooks:replay-2:${string}`]: (
      dead: RedisKey,
      queue: RedisKey,
      limit: number,
      ...ids: string[]
    ) => Result<unknown, Context>;
    [command: `webhooks:lease-1:${string}`]: (lease: RedisKey, owner: string, ttlMs: number) => Result<unknown, Context>;
  }
}

const LUA_DIR = new URL('../lua/', import.meta.url);
const sources = new Map<WebhookScriptFile, string>();

function define<File extends WebhookScriptFile>(redis: Redis | Cluster, file: File): `webhooks:${File}:${string}` {
  let lua = sources.get(file);
  if (lua === undefined) {
    lua = loadScript(file, LUA_DIR);
    sources.set(file, lua);
  }
  return defineVersionedCommand(redis, 'webhooks', file, lua) as `webhooks:${File}:${string}`;
}

/** Defines every webhook script on a client and returns their command names. */
export function defineWebhookScripts(redis: Redis | Cluster) {
  return {
    fanOut: define(redis, 'fan-out-3'),
    startSource: define(redis, 'start-source-3'),
    retire: define(redis, 'retire-2'),
    claim: define(redis, 'claim-2'),
    release: define(redis, 'release-1'),
    expire: define(redis, 'expire-2'),
    replay: define(redis, 'replay-2'),
    lease: define(redis, 'lease-1'),
  } as const;
}

export type WebhookScripts = ReturnType<typeof defineWebhookScripts>;
