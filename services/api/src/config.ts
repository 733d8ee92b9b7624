import {
  eventSettings,
  hostVar,
  integerVar,
  livenessSettings,
  loggingSettings,
  portVar,
  redisSettings,
  webhookSettings,
} from '@presence/config';
import { z } from 'zod';

export const apiConfigSchema = z.object({
  ...redisSettings,
  ...loggingSettings,
  ...eventSettings,
  ...webhookSettings,
  LAST_SEEN_TTL_MS: livenessSettings.LAST_SEEN_TTL_MS,
  API_HOST: hostVar('0.0.0.0'),
  API_PORT: portVar(8080),
  /** A Redis call slower than this fails the request with 503 instead of hanging it. */
  REDIS_COMMAND_TIMEOUT_MS: integerVar(2_000, 10, 60_000),
  SSE_KEEPALIVE_MS: integerVar(15_000, 100, 300_000),
  /** Unread bytes after which a slow SSE subscriber is dropped (it resumes with Last-Event-ID). */
  SSE_MAX_BUFFER_BYTES: integerVar(1_048_576, 4_096, 1_073_741_824),
  /**
   * How often every event stream is read even without a pub/sub doorbell: only a safety net for a
   * lost pub/sub message (the doorbell delivers in milliseconds), so it can be slow and cheap.
   */
  EVENTS_POLL_MS: integerVar(5_000, 10, 60_000),
  /** How long a query token for the event stream (POST /v1/events/token) opens streams. */
  EVENT_TOKEN_TTL_MS: integerVar(60_000, 1_000, 3_600_000),
  /** The dashboard's chart: one sample of the counts per this many ms, across all API replicas... */
  DASHBOARD_SAMPLE_MS: integerVar(10_000, 100, 600_000),
  /** ...kept this long. */
  DASHBOARD_HISTORY_MS: integerVar(3_600_000, 60_000, 86_400_000),
  /** Comma-separated bearer tokens for /v1/*; unset: no authentication (local use only). */
  API_TOKENS: tokenList(),
  /** Comma-separated bearer tokens for /metrics; unset: open to scrapers. */
  METRICS_TOKENS: tokenList(),
  /**
   * Comma-separated bearer tokens for the admin API (/v1/webhooks); unset: the admin API is open
   * when API_TOKENS is unset too (local use), and off when API_TOKENS is set.
   */
  ADMIN_TOKENS: tokenList(),
});

function tokenList() {
  return z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token !== ''),
    )
    .pipe(z.array(z.string().regex(/^[\x21-\x7e]{16,256}$/, { error: 'tokens must be 16-256 printable characters without spaces' })))
    .default([]);
}

export type ApiConfig = z.output<typeof apiConfigSchema>;
