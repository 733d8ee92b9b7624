import { hostname } from 'node:os';
import {
  NODE_ID_PATTERN,
  booleanVar,
  effectiveSessionTtlMs,
  eventSettings,
  hostVar,
  integerVar,
  livenessSettings,
  loggingSettings,
  portVar,
  redisSettings,
} from '@presence/config';
import { z } from 'zod';

export const edgeConfigSchema = z
  .object({
    ...redisSettings,
    ...loggingSettings,
    ...livenessSettings,
    ...eventSettings,
    EDGE_HOST: hostVar('0.0.0.0'),
    EDGE_PORT: portVar(7070),
    /** Prometheus metrics of this node; 0 turns the endpoint off. */
    EDGE_METRICS_PORT: portVar(9101),
    NODE_ID: z
      .string()
      .regex(NODE_ID_PATTERN, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ : @ -' })
      .default(`${hostname().replace(/[^A-Za-z0-9._:@-]/g, '-').slice(0, 50)}-${process.pid}`),
    LOG_HEARTBEATS: booleanVar(false),
    /** How long SIGTERM waits for Redis to confirm the session ends before exiting. */
    DRAIN_TIMEOUT_MS: integerVar(5_000, 0, 600_000),
  })
  .superRefine((c, ctx) => {
    if (c.HEARTBEAT_TIMEOUT_MS <= c.HEARTBEAT_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom', path: ['HEARTBEAT_TIMEOUT_MS'],
        message: `must be greater than HEARTBEAT_INTERVAL_MS (${c.HEARTBEAT_INTERVAL_MS})`,
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
