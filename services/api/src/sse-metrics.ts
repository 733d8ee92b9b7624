import { Counter, Gauge, type Registry } from 'prom-client';

/** The two SSE streams of `GET /v1/events`: client events, and channel events (`channels=`). */
export type SseStreamKind = 'presence' | 'channels';
/** Why a subscriber was dropped: `slow_reader` (unread bytes over SSE_MAX_BUFFER_BYTES), `catching_up` (too far behind while resuming). */
export type SseDropReason = 'slow_reader' | 'catching_up';

const STREAMS: readonly SseStreamKind[] = ['presence', 'channels'];
const REASONS: readonly SseDropReason[] = ['slow_reader', 'catching_up'];

/** The SSE metrics of both streams, labelled by `stream`: one set per registry, shared by their routers. */
export class SseMetrics {
  private readonly counts = new Map<SseStreamKind, () => number>(STREAMS.map((stream) => [stream, () => 0]));
  private readonly droppedTotal: Counter<'stream' | 'reason'>;

  constructor(registry: Registry) {
    const counts = this.counts;
    new Gauge({
      name: 'presence_sse_subscribers',
      help: 'Open SSE subscriptions, by stream (presence: client events; channels: channel events)',
      labelNames: ['stream'],
      registers: [registry],
      collect() {
        for (const [stream, count] of counts) this.set({ stream }, count());
      },
    });
    this.droppedTotal = new Counter({
      name: 'presence_sse_dropped_total',
      help: 'SSE subscribers dropped, by stream and reason: slow_reader (unread bytes over SSE_MAX_BUFFER_BYTES), catching_up (too far behind while resuming)',
      labelNames: ['stream', 'reason'],
      registers: [registry],
    });
    // Every series exists from the start, so the first drop is an increase that rate() and alerts see.
    for (const stream of STREAMS) for (const reason of REASONS) this.droppedTotal.inc({ stream, reason }, 0);
  }

  /** Reads the open subscribers of `stream` from `count` on every scrape. */
  countFrom(stream: SseStreamKind, count: () => number): void {
    this.counts.set(stream, count);
  }

  dropped(stream: SseStreamKind, reason: SseDropReason): void {
    this.droppedTotal.inc({ stream, reason });
  }
}
