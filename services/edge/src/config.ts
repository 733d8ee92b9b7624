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

export const edgeConfigSchema = z
  .object({
    ...redisSettings,
    ...loggingSettings,
    ...nodeSettings,
    ...livenessSettings,
    ...eventSettings,
    EDGE_HOST: hostVar('0.0.0.0'),
    EDGE_PORT: portVar(7070),
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
    AUTH_MODE: enumVar(['none', 'jwt'] as const, 'none'),
    /** AUTH_MODE=jwt: exactly one of these three. */
    JWT_SECRET: z.string().min(32, { error: 'must be at least 32 characters' }).optional(),
    JWT_PUBLIC_KEY_FILE: z.string().optional(),
    JWT_JWKS_FILE: z.string().optional(),
    JWT_CLOCK_TOLERANCE_SEC: integerVar(5, 0, 3_600),
  })
  .superRefine((c, ctx) => {
    if (c.HEARTBEAT_TIMEOUT_MS <= c.HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom', path: ['HEARTBEAT_TIMEOUT_MS'],
        message: `must be greater than HEARTBEAT_INTERVAL_MS (${c.HEARTBEAT_INTERVAL_MS})`,
      });
    }
    const keys = [c.JWT_SECRET, c.JWT_PUBLIC_KEY_FILE, c.JWT_JWKS_FILE].filter((v) => v !== undefined).length;
    if (c.AUTH_MODE === 'jwt' && keys !== 1) {
      ctx.addIssue({
        code: 'custom', path: ['AUTH_MODE'],
        message: 'jwt needs exactly one of JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE',
      });
    }
    const ttl = effectiveSessionTtlMs(c);
    if (ttl < c.SESSION_REFRESH_MS + 50) {
      ctx.addIssue({
        code: 'custom', path: ['SESSION_TTL_MS'],
        message: `must exceed SESSION_REFRESH_MS (${c.SESSION_REFRESH_MS}) by at least 50 ms, or be 0 for 3 x SESSION_REFRESH_MS`,
      });
    }
  });

export type EdgeConfig = z.output<typeof edgeConfigSchema>;
