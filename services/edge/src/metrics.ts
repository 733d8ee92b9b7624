import { OFFLINE_REASONS, type OfflineReason } from '@presence/presence-store';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * What the edge counts per frame and per session end: plain numbers, which the registry reads when
 * /metrics is scraped. prom-client's inc()/dec() validate and hash labels on every call, a few
 * microseconds each, which a burst of 1000 closing sockets paid 3000 times.
 */
export interface EdgeTallies {
  frames: number;
  heartbeats: number;
  sessionsEnded: Record<OfflineReason, number>;
}

/** The server's open connections and sessions, counted by its own collections. */
export interface OpenCounts {
  connections(): number;
  sessions(): number;
}

export interface EdgeMetrics {
  tallies: EdgeTallies;
  /** The gauges of open connections and sessions read these when scraped (0 until given). */
  gaugeOpen(open: OpenCounts): void;
  protocolErrors: Counter<'code'>;
  flushes: Counter;
  flushSeconds: Histogram;
  writeFailures: Counter;
  reregistered: Counter;
  /** 1 while the node is fenced (cut off from Redis alone: fence.ts). */
  fenced: Gauge;
  fences: Counter;
  /** JOIN/LEAVE/SET answered, by request kind and answer (`joined`, `left`, `updated`, or the NACK code). */
  channelRequests: Counter<'kind' | 'result'>;
  /** The channel requests waiting or in Redis now read this when scraped. */
  gaugeChannelsPending(read: () => number): void;
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  const registers = [registry];
  const tallies: EdgeTallies = {
    frames: 0,
    heartbeats: 0,
    sessionsEnded: Object.fromEntries(OFFLINE_REASONS.map((reason) => [reason, 0])) as Record<OfflineReason, number>,
  };
  // Counters are set from the running totals: reset() then inc(total) at each scrape.
  const counterOf = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  let open: OpenCounts = { connections: () => 0, sessions: () => 0 };
  let channelsPending = () => 0;
  new Gauge({
    name: 'presence_edge_channel_requests_pending',
    help: 'Channel requests (JOIN/LEAVE/SET) waiting or in Redis; past 64 x CHANNEL_WRITES_IN_FLIGHT new ones are refused',
    registers,
    collect() {
      this.set(channelsPending());
    },
  });
  new Gauge({
    name: 'presence_edge_connections',
    help: 'Open TCP connections',
    registers,
    collect() {
      this.set(open.connections());
    },
  });
  new Gauge({
    name: 'presence_edge_sessions',
    help: 'Sessions (connections after HELLO)',
    registers,
    collect() {
      this.set(open.sessions());
    },
  });
  counterOf('presence_edge_frames_total', 'Frames received', () => tallies.frames);
  counterOf('presence_edge_heartbeats_total', 'PING frames received', () => tallies.heartbeats);
  new Counter({
    name: 'presence_edge_sessions_ended_total',
    help: 'Sessions ended, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of OFFLINE_REASONS) if (tallies.sessionsEnded[reason] > 0) this.inc({ reason }, tallies.sessionsEnded[reason]);
    },
  });
  return {
    tallies,
    gaugeOpen: (counts) => {
      open = counts;
    },
    gaugeChannelsPending: (read) => {
      channelsPending = read;
    },
    channelRequests: new Counter({
      name: 'presence_edge_channel_requests_total',
      help: 'Channel requests answered, by kind (join, leave, set; rejoin: joined again after Redis lost the session) and result (joined, left, updated, or the NACK code)',
      labelNames: ['kind', 'result'],
      registers,
    }),
    protocolErrors: new Counter({
      name: 'presence_edge_protocol_errors_total',
      help: 'ERR frames sent, by code',
      labelNames: ['code'],
      registers,
    }),
    flushes: new Counter({ name: 'presence_edge_flushes_total', help: 'Batched Redis flushes', registers }),
    flushSeconds: new Histogram({
      name: 'presence_edge_flush_seconds',
      help: 'Duration of one batched Redis flush',
      registers,
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    }),
    writeFailures: new Counter({
      name: 'presence_edge_redis_write_failures_total',
      help: 'Flushes that failed and were retried',
      registers,
    }),
    reregistered: new Counter({
      name: 'presence_edge_sessions_reregistered_total',
      help: 'Live sessions registered again after Redis lost them',
      registers,
    }),
    fenced: new Gauge({
      name: 'presence_edge_fenced',
      help: '1 while this node is cut off from Redis alone and has moved its clients (not accepting), else 0',
      registers,
    }),
    fences: new Counter({
      name: 'presence_edge_fences_total',
      help: 'Times this node found itself cut off from Redis alone and moved its clients',
      registers,
    }),
  };
}
