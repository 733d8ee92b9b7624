import { eventSettings, hostVar, integerVar, livenessSettings, loggingSettings, portVar, redisSettings } from '@presence/config';
import { z } from 'zod';

export const apiConfigSchema = z.object({
  ...redisSettings,
  ...loggingSettings,
  ...eventSettings,
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
  /** Comma-separated bearer tokens for /v1/*; unset: no authentication (local use only). */
  API_TOKENS: tokenList(),
  /** Comma-separated bearer tokens for /metrics; unset: open to scrapers. */
  METRICS_TOKENS: tokenList(),
});

function tokenList() {
  return z
    .string()
    .transform((value) => value.split(',').map((token) => token.trim()).filter((token) => token !== ''))
    .pipe(z.array(z.string().regex(/^[\x21-\x7e]{16,256}$/, { error: 'tokens must be 16-256 printable characters without spaces' })))
    .default([]);
}

export type ApiConfig = z.output<typeof apiConfigSchema>;
