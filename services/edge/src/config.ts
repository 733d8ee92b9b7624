import {
  booleanVar,
  effectiveSessionTtlMs,
  enumVar,
  eventSettings,
  hostVar,
  integerVar,
  livenessSettings,
  loggingSettings,
  nodeSettings,
  portVar,
  redisSettings,
} from '@presence/config';
import { z } from 'zod';
import { originEntryProblem } from './origin-policy.js';

export const edgeConfigSchema = z
  .object({
    ...redisSettings,
    ...loggingSettings,
    ...nodeSettings,
    ...livenessSettings,
    ...eventSettings,
    EDGE_HOST: hostVar('0.0.0.0'),
    EDGE_PORT: portVar(7070),
    /** WebSocket clients (browsers), path /v1/ws; 0 turns it off. */
    EDGE_WS_PORT: portVar(7072),
    /**
     * Web pages that may open a WebSocket: `*`, or comma-separated origins (`https://app.example.com`).
     * Unset: any page with AUTH_MODE=none, only pages of the same host name with AUTH_MODE=jwt.
     */
    ALLOWED_ORIGINS: z.string().optional(),
    /** Prometheus metrics of this node; 0 turns the endpoint off. */
    EDGE_METRICS_PORT: portVar(9101),

    LOG_HEARTBEATS: booleanVar(false),
    /** How long SIGTERM waits for Redis to confirm the session ends before exiting. */
    DRAIN_TIMEOUT_MS: integerVar(5_000, 0, 600_000),
    /** SIGTERM spreads `BYE shutdown` over this window so clients don't all reconnect at once. */
    DRAIN_WINDOW_MS: integerVar(5_000, 0, 600_000),
    /** A session ended by `closed` or `shutdown` keeps its client online this long (a debounce). */
    OFFLINE_GRACE_MS: integerVar(5_000, 0, 3_600_000),
    MAX_CONNECTIONS: integerVar(50_000, 1, 10_000_000),
    /** 0 turns it off: behind a TCP load balancer every client shares the balancer's address. */
    MAX_CONNECTIONS_PER_ADDRESS: integerVar(0, 0, 10_000_000),
    MAX_FRAMES_PER_SECOND: integerVar(50, 1, 1_000_000),
    MAX_SESSIONS_PER_CLIENT: integerVar(16, 0, 100_000),
    MAX_STATE_BYTES: integerVar(1_024, 2, 4_000),
    /** Channels one session may be in at once (JOIN beyond: NACK too_many_channels); 0: no limit. */
    MAX_CHANNELS_PER_SESSION: integerVar(100, 0, 100_000),
    /** Channel requests (JOIN/LEAVE/SET) of this node in Redis at once; more wait, and past 64x this many are refused. */
    CHANNEL_WRITES_IN_FLIGHT: integerVar(256, 1, 100_000),
    AUTH_MODE: enumVar(['none', 'jwt'] as const, 'none'),
    /** AUTH_MODE=jwt: exactly one of these three. */
    JWT_SECRET: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
    JWT_PUBLIC_KEY_FILE: z.string().optional(),
    JWT_JWKS_FILE: z.string().optional(),
    JWT_CLOCK_TOLERANCE_SEC: integerVar(5, 0, 3_600),
    /**
     * Asked whether Redis is up when this node's writes go unanswered (an HTTP URL; 200 means up): the
     * API's /readyz. With it, an edge cut off from Redis alone moves its clients to other nodes; unset,
     * it keeps them (fence.ts).
     */
    REDIS_WITNESS_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    /** A write unanswered this long makes the node ask the witness; 0 means SESSION_REFRESH_MS. */
    FENCE_AFTER_MS: integerVar(0, 0, 600_000),
  })
  .superRefine((c, ctx) => {
    if (c.HEARTBEAT_TIMEOUT_MS <= c.HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HEARTBEAT_TIMEOUT_MS'],
        message: `must be greater than HEARTBEAT_INTERVAL_MS (${c.HEARTBEAT_INTERVAL_MS})`,
      });
    }
    for (const entry of (c.ALLOWED_ORIGINS ?? '').split(',')) {
      const problem = entry.trim() === '' ? null : originEntryProblem(entry.trim());
      if (problem !== null)
        ctx.addIssue({ code: 'custom', path: ['ALLOWED_ORIGINS'], message: `${problem} (use * or scheme://host[:port], comma-separated)` });
    }
    if (c.EDGE_WS_PORT !== 0 && c.EDGE_WS_PORT === c.EDGE_PORT) {
      ctx.addIssue({
        code: 'custom',
        path: ['EDGE_WS_PORT'],
        message: `must differ from EDGE_PORT (${c.EDGE_PORT}), or be 0 to turn WebSocket off`,
      });
    }
    const keys = [c.JWT_SECRET, c.JWT_PUBLIC_KEY_FILE, c.JWT_JWKS_FILE].filter((v) => v !== undefined).length;
    if (c.AUTH_MODE === 'jwt' && keys !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_MODE'],
        message: 'jwt needs exactly one of JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE',
      });
    }
    const ttl = effectiveSessionTtlMs(c);
    if (c.REDIS_WITNESS_URL !== undefined && c.SESSION_REFRESH_MS + effectiveFenceAfterMs(c) >= ttl) {
      ctx.addIssue({
        code: 'custom',
        path: ['FENCE_AFTER_MS'],
        message:
          `plus SESSION_REFRESH_MS (${c.SESSION_REFRESH_MS}) must be less than the session TTL (${ttl}), ` +
          'or a cut-off edge finds out only after its clients expired',
      });
    }
    if (ttl < c.SESSION_REFRESH_MS + 50) {
      ctx.addIssue({
        code: 'custom',
        path: ['SESSION_TTL_MS'],
        message: `must exceed SESSION_REFRESH_MS (${c.SESSION_REFRESH_MS}) by at least 50 ms, or be 0 for 3 x SESSION_REFRESH_MS`,
      });
    }
  });

export type EdgeConfig = z.output<typeof edgeConfigSchema>;

/** The fence's suspicion bound actually used: explicit, or one refresh period. */
export function effectiveFenceAfterMs(settings: { FENCE_AFTER_MS: number; SESSION_REFRESH_MS: number }): number {
  return settings.FENCE_AFTER_MS > 0 ? settings.FENCE_AFTER_MS : settings.SESSION_REFRESH_MS;
}
