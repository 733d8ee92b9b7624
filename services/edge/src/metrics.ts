import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface EdgeMetrics {
  connections: Gauge;
  sessions: Gauge;
  frames: Counter;
  heartbeats: Counter;
  sessionsEnded: Counter<'reason'>;
  protocolErrors: Counter<'code'>;
  flushes: Counter;
  flushSeconds: Histogram;
  writeFailures: Counter;
  reregistered: Counter;
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  const registers = [registry];
  return {
    connections: new Gauge({ name: 'presence_edge_connections', help: 'Open TCP connections', registers }),
    sessions: new Gauge({ name: 'presence_edge_sessions', help: 'Sessions (connections after HELLO)', registers }),
    frames: new Counter({ name: 'presence_edge_frames_total', help: 'Frames received', registers }),
    heartbeats: new Counter({ name: 'presence_edge_heartbeats_total', help: 'PING frames received', registers }),
    sessionsEnded: new Counter({
      name: 'presence_edge_sessions_ended_total', help: 'Sessions ended, by reason', labelNames: ['reason'], registers,
    }),
    protocolErrors: new Counter({
      name: 'presence_edge_protocol_errors_total', help: 'ERR frames sent, by code', labelNames: ['code'], registers,
    }),
    flushes: new Counter({ name: 'presence_edge_flushes_total', help: 'Batched Redis flushes', registers }),
    flushSeconds: new Histogram({
      name: 'presence_edge_flush_seconds', help: 'Duration of one batched Redis flush', registers,
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    }),
    writeFailures: new Counter({ name: 'presence_edge_redis_write_failures_total', help: 'Flushes that failed and were retried', registers }),
    reregistered: new Counter({
      name: 'presence_edge_sessions_reregistered_total', help: 'Live sessions registered again after Redis lost them', registers,
    }),
  };
}
