import {
  eventSettings,
  hostVar,
  integerVar,
  loggingSettings,
  nodeSettings,
  portVar,
  redisSettings,
  webhookSettings,
} from '@presence/config';
import { EVENT_TYPES } from '@presence/wire-format';
import { z } from 'zod';

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

export const webhooksConfigSchema = z
  .object({
    ...redisSettings,
    ...loggingSettings,
    ...nodeSettings,
    ...eventSettings,
    ...webhookSettings,
    /** Endpoints for simple setups, comma-separated http(s) URLs; each gets every event type unless WEBHOOK_EVENTS says otherwise. */
    WEBHOOK_URLS: z
      .string()
      .transform(list)
      .pipe(
        z.array(
          z.string().refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
            error: 'must be http(s) URLs, comma-separated',
          }),
        ),
      )
      .default([]),
    /** Signs the requests to WEBHOOK_URLS (16-256 characters); required with them. */
    WEBHOOK_SECRET: z
      .string()
      .regex(/^[\x21-\x7e]{16,256}$/, { error: 'must be 16-256 printable characters without spaces' })
      .optional(),
    /** Event types the WEBHOOK_URLS endpoints receive, comma-separated (default: all). */
    WEBHOOK_EVENTS: z
      .string()
      .transform(list)
      .pipe(z.array(z.enum(EVENT_TYPES, { error: `must be a comma-separated list of ${EVENT_TYPES.join(', ')}` })).min(1))
      .default([...EVENT_TYPES]),
    /** Most events in one request. Their ids go in one header line, which servers cap at 8 KiB: 250 ids fit. */
    WEBHOOK_BATCH: integerVar(100, 1, 250),
    /** A request without a complete answer after this long counts as failed. */
    WEBHOOK_TIMEOUT_MS: integerVar(5_000, 100, 60_000),
    /** How long an event is retried after it was queued for an endpoint, before it becomes a dead letter. */
    WEBHOOK_RETRY_FOR_MS: integerVar(86_400_000, 1_000, 30 * 86_400_000),
    /** First retry delay; it doubles per failed attempt, with jitter, up to WEBHOOK_BACKOFF_MAX_MS. */
    WEBHOOK_BACKOFF_MS: integerVar(1_000, 10, 3_600_000),
    /** Longest retry delay: a receiver that comes back gets its backlog at most this long later. */
    WEBHOOK_BACKOFF_MAX_MS: integerVar(30_000, 10, 86_400_000),
    /** Endpoints one replica delivers to at once (each has at most one request in flight). */
    WEBHOOK_CONCURRENCY: integerVar(50, 1, 1_000),
    /** Delivery jobs started per second across all replicas (BullMQ's limiter; a job serves one endpoint for up to 1 s); 0: no limit. */
    WEBHOOK_RATE_LIMIT: integerVar(1_000, 0, 1_000_000),
    /** Dead letters kept per endpoint, about; the oldest are dropped beyond it. */
    WEBHOOK_DEAD_LETTERS_MAX: integerVar(10_000, 16, 10_000_000),
    /** The streams are read at least this often even without a pub/sub wake-up (a safety net). */
    WEBHOOK_POLL_MS: integerVar(1_000, 10, 60_000),
    /**
     * The lock on a delivery and the fan-out lease: a crashed replica's delivery is taken over, and
     * its fan-out too, within about this long (BullMQ renews the lock at half of it).
     */
    WEBHOOK_LOCK_MS: integerVar(10_000, 200, 600_000),
    WEBHOOKS_HOST: hostVar('0.0.0.0'),
    /** Prometheus metrics of this replica; 0 turns the endpoint off. */
    WEBHOOKS_METRICS_PORT: portVar(9103),
  })
  .superRefine((config, ctx) => {
    if (config.WEBHOOK_URLS.length > 0 && config.WEBHOOK_SECRET === undefined) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'must be set when WEBHOOK_URLS is (it signs their requests)' });
    }
    if (config.WEBHOOK_BACKOFF_MAX_MS < config.WEBHOOK_BACKOFF_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_BACKOFF_MAX_MS'],
        message: `must be at least WEBHOOK_BACKOFF_MS (${config.WEBHOOK_BACKOFF_MS})`,
      });
    }
  });

export type WebhooksConfig = z.output<typeof webhooksConfigSchema>;
