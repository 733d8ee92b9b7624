import { hostname } from 'node:os';
import { z } from 'zod';
import { booleanVar, enumVar, integerVar } from './env-vars.js';

/** Where Redis is and how keys are laid out: every service of one deployment must agree on these. */
export const redisSettings = {
  /**
   * Redis URL; in cluster mode a comma-separated list of seed node URLs, in sentinel mode of sentinel
   * URLs (a user and password in them are the master's, as a standalone URL's are the server's).
   */
  REDIS_URL: z.string().min(1).default('redis://127.0.0.1:6379'),
  REDIS_MODE: enumVar(['standalone', 'cluster', 'sentinel'] as const, 'standalone'),
  /** Sentinel mode: the name the sentinels monitor the master under (`sentinel monitor <name> …`). */
  REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,128}$/, { error: 'must be 1-128 characters of A-Z a-z 0-9 . _ -' })
    .default('mymaster'),
  /** Sentinel mode: the sentinels' own password (`requirepass` in sentinel.conf), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  /** Prefix of every key and channel; letters, digits and `._-` so it can't contain a hash tag. */
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ -' })
    .default('presence'),
  /** Number of key shards (hash tags). Fixed for the lifetime of a deployment's data. */
  SHARD_COUNT: integerVar(16, 1, 1024),
};

export const loggingSettings = {
  LOG_LEVEL: enumVar(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
};

/** Timing shared by the edge (which writes deadlines) and the sweeper/API (which read them). */
export const livenessSettings = {
  HEARTBEAT_INTERVAL_MS: integerVar(10_000, 100, 3_600_000),
  HEARTBEAT_TIMEOUT_MS: integerVar(30_000, 200, 7_200_000),
  HELLO_TIMEOUT_MS: integerVar(5_000, 100, 600_000),
  HEARTBEAT_CHECK: booleanVar(true),
  SESSION_REFRESH_MS: integerVar(5_000, 50, 600_000),
  /** How long a session lives in Redis without a refresh; 0 means 3 × SESSION_REFRESH_MS. */
  SESSION_TTL_MS: integerVar(0, 0, 3_600_000),
  LAST_SEEN_TTL_MS: integerVar(30 * 24 * 3_600_000, 1_000, 10 * 365 * 24 * 3_600_000),
};

export const eventSettings = {
  /** Events kept in the streams, about, across all shards. */
  EVENTS_MAXLEN: integerVar(100_000, 100, 100_000_000),
  /** Events kept in each channel's stream, about (channel presence). */
  CHANNEL_EVENTS_MAXLEN: integerVar(1_000, 10, 10_000_000),
  /** `off`: a channel state change (SET, or JOIN again with a state) writes no `update` event. */
  CHANNEL_UPDATE_EVENTS: booleanVar(true),
};

/** Webhook settings the API and the webhooks worker must agree on. */
export const webhookSettings = {
  /**
   * `on` lets endpoints registered through the admin API point at loopback, private and link-local
   * addresses (the API checks when they are registered, the worker at every connection).
   */
  WEBHOOK_ALLOW_PRIVATE: booleanVar(false),
};

/** The session TTL actually used: explicit, or three refresh periods so one lost flush never expires anyone. */
export function effectiveSessionTtlMs(settings: { SESSION_TTL_MS: number; SESSION_REFRESH_MS: number }): number {
  return settings.SESSION_TTL_MS > 0 ? settings.SESSION_TTL_MS : settings.SESSION_REFRESH_MS * 3;
}

/** Names a process in logs, stats and events. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,64}$/;

export const nodeSettings = {
  /** Defaults to hostname-pid, so replicas in containers get distinct names without configuration. */
  NODE_ID: z
    .string()
    .regex(NODE_ID_PATTERN, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ : @ -' })
    .default(
      `${hostname()
        .replace(/[^A-Za-z0-9._:@-]/g, '-')
        .slice(0, 50)}-${process.pid}`,
    ),
};
