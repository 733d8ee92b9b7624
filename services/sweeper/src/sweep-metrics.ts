import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RedisContact } from './redis-contact.js';

export interface SweepMetrics {
  sweepSeconds: Histogram;
  expired: Counter;
  offline: Counter;
  held: Counter;
  failures: Counter;
}

/** The sweeper's metrics, registered once per process. */
export function createSweepMetrics(registry: Registry, contact: RedisContact): SweepMetrics {
  const registers = [registry];
  new Gauge({
    name: 'presence_sweep_holdoffs',
    help: 'Hold-off periods started by this replica',
    registers,
    collect() {
      this.set(contact.holdoffs);
    },
  });
  return {
    sweepSeconds: new Histogram({
      name: 'presence_sweep_seconds',
      help: 'Duration of one shard sweep (all its batches)',
      registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    expired: new Counter({ name: 'presence_sweep_sessions_expired_total', help: 'Sessions removed by sweeps', registers }),
    // Not presence_events_total: the API counts every event under that name, so one name for both
    // would double-count in a cluster-wide sum(). The script returns a count, not reasons: a grace
    // that ended goes offline with its own reason (closed, shutdown), the rest as expired.
    offline: new Counter({
      name: 'presence_sweep_offline_events_total',
      help: 'Offline events written by sweeps (expired sessions, and graces that ended)',
      registers,
    }),
    held: new Counter({ name: 'presence_sweep_held_total', help: 'Sweeps skipped while expiry was held off after an outage', registers }),
    failures: new Counter({ name: 'presence_sweep_failures_total', help: 'Shard sweeps that failed (Redis errors)', registers }),
  };
}
