import {
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

export const sweeperConfigSchema = z.object({
  ...redisSettings,
  ...loggingSettings,
  ...nodeSettings,
  ...eventSettings,
  LAST_SEEN_TTL_MS: livenessSettings.LAST_SEEN_TTL_MS,
  /** The edges' refresh period and session TTL: the sweeper needs them to size its hold-off. */
  SESSION_REFRESH_MS: livenessSettings.SESSION_REFRESH_MS,
  SESSION_TTL_MS: livenessSettings.SESSION_TTL_MS,
  /** Expiry is paused this long after an outage or a Redis restart; 0 means SESSION_TTL + SESSION_REFRESH. */
  SWEEP_HOLDOFF_MS: integerVar(0, 0, 3_600_000),
  /** Longest a shard goes unswept; shards are swept sooner, as their earliest deadline passes. */
  SWEEP_INTERVAL_MS: integerVar(1_000, 50, 600_000),
  /** How long one BullMQ job sweeps its shards before the next takes over (BullMQ costs ~50 Redis commands a job). */
  SWEEP_JOB_MS: integerVar(10_000, 100, 3_600_000),
  /** Sessions removed per script call: bounds how long one call holds Redis. */
  SWEEP_BATCH: integerVar(200, 1, 10_000),
  /** Shards one sweep job sweeps at once. */
  SWEEP_CONCURRENCY: integerVar(4, 1, 64),
  /** Shard groups, one sweep job each at a time; more lets more replicas share the work. */
  SWEEP_PARTITIONS: integerVar(2, 1, 1_024),
  /**
   * The channel processor drains a shard's outbox when its doorbell rings (pub/sub), and every shard
   * this often anyway, in case one was lost (channel-outbox.ts): an idle poll is one XRANGE per shard.
   */
  CHANNEL_OUTBOX_INTERVAL_MS: integerVar(5_000, 10, 600_000),
  /** Outbox entries (ended sessions) per drain call: each leaves up to MAX_CHANNELS_PER_SESSION channels. */
  CHANNEL_OUTBOX_BATCH: integerVar(500, 1, 10_000),
  SWEEPER_HOST: hostVar('0.0.0.0'),
  /** Prometheus metrics of this replica; 0 turns the endpoint off. */
  SWEEPER_METRICS_PORT: portVar(9102),
});

export type SweeperConfig = z.output<typeof sweeperConfigSchema>;
