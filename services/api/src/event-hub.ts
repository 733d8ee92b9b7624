import {
  EventCursor,
  compareStreamIds,
  isRedisUnavailable,
  type EventType,
  type PresenceEvent,
  type PresenceStore,
  type StreamedEvent,
} from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { eventFromMessage, parseEventId } from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';

/** Events read from a shard stream per call. */
const PAGE = 500;

export interface EventSink {
  /** Called once, before any event: the cursor of the starting point (send it as the first SSE id). */
  open(start: string): void;
  /** Delivers one event with the cursor that resumes right after it. */
  event(event: PresenceEvent, cursor: string): void;
  /** The hub gave up on this subscriber (it fell too far behind); the sink should close. */
  drop(reason: string): void;
}

export interface Subscription {
  close(): void;
}

interface Subscriber {
  positions: EventCursor;
  types: ReadonlySet<EventType> | null;
  sink: EventSink;
  /** Live events that arrived while the subscriber was catching up from the streams. */
  backlog: StreamedEvent[] | null;
  closed: boolean;
}

export interface EventHubOptions {
  /** Every shard is read this often even without a pub/sub message, in case one was missed. */
  pollMs: number;
  /** A subscriber catching up may have at most this many live events waiting, or it is dropped. */
  maxBacklog: number;
}

/**
 * Fans presence events out to SSE subscribers. The pub/sub channel is only a doorbell: a message
 * for shard N makes the hub read shard N's stream from where it left off, so a lost message delays
 * an event (until the next poll) but never loses it. Subscribers hold a cursor with one position
 * per shard; an event is delivered only if it lies after the subscriber's position for its shard,
 * so catching up from the streams and receiving live events can overlap without repeats.
 */
export class EventHub {
  private readonly store: PresenceStore;
  private readonly subscriber: Redis | Cluster;
  private readonly logger: Logger;
  private readonly options: EventHubOptions;
  private readonly subscribers = new Set<Subscriber>();
  private heads: EventCursor | null = null;
  private readonly reading = new Map<number, Promise<void>>();
  private readonly again = new Set<number>();
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly observers = new Set<(event: PresenceEvent) => void>();

  constructor(store: PresenceStore, subscriber: Redis | Cluster, logger: Logger, options: EventHubOptions) {
    this.store = store;
    this.subscriber = subscriber;
    this.logger = logger;
    this.options = options;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** True once the hub knows where every stream ends (it needs Redis for that). */
  get ready(): boolean {
    return this.heads !== null;
  }

  /**
   * Calls `listener` with every event the hub reads, of every type, once each (metrics), until the
   * subscription is closed. Any number may observe.
   */
  observe(listener: (event: PresenceEvent) => void): Subscription {
    const observer = (event: PresenceEvent) => listener(event);
    this.observers.add(observer);
    return { close: () => this.observers.delete(observer) };
  }

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.store.keys.eventsChannel) return;
      const shard = parseEventId(eventFromMessage(message)?.id ?? '')?.shard;
      if (shard !== undefined && shard < this.store.keys.shardCount) this.read(shard);
    });
    // Not awaited: with Redis down the API still starts (and answers 503); ioredis subscribes once
    // connected and again after every reconnect.
    this.subscriber.subscribe(this.store.keys.eventsChannel).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'subscribing to the events channel failed');
    });
    await this.initHeads();
    this.pollTimer = setInterval(() => {
      if (this.heads === null) {
        void this.initHeads();
        return;
      }
      for (let shard = 0; shard < this.store.keys.shardCount; shard += 1) this.read(shard);
    }, this.options.pollMs);
  }

  stop(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    for (const subscriber of this.subscribers) subscriber.closed = true;
    this.subscribers.clear();
  }

  /**
   * Subscribes from `after` (exclusive), or from now when null. Resolves once the subscriber is
   * registered; older events are then delivered before newer ones, shard by shard.
   */
  async subscribe(after: EventCursor | null, types: ReadonlySet<EventType> | null, sink: EventSink): Promise<Subscription> {
    if (this.heads === null) await this.initHeads();
    const heads = this.heads;
    if (heads === null) throw new Error('event streams are unavailable');
    const subscriber: Subscriber = { positions: after ?? heads, types, sink, backlog: after === null ? null : [], closed: false };
    this.subscribers.add(subscriber);
    sink.open(subscriber.positions.toString());
    if (after !== null) {
      void this.catchUp(subscriber).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'catching up a subscriber failed');
        this.remove(subscriber);
        sink.drop('events could not be read; reconnect to resume');
      });
    }
    return { close: () => this.remove(subscriber) };
  }

  private remove(subscriber: Subscriber): void {
    subscriber.closed = true;
    this.subscribers.delete(subscriber);
  }

  private async initHeads(): Promise<void> {
    try {
      this.heads = await this.store.latestCursor();
    } catch (error) {
      // Redis out of reach is said once per process (RedisReachability, in main); retried every poll.
      if (isRedisUnavailable(error)) this.logger.debug({ error: (error as Error).message }, 'cannot read event stream positions yet');
      else this.logger.warn({ err: error }, 'cannot read event stream positions yet');
    }
  }

  /** Reads one shard's new events; concurrent requests for the same shard coalesce into one more read. */
  private read(shard: number): void {
    if (this.heads === null) return;
    if (this.reading.has(shard)) {
      this.again.add(shard);
      return;
    }
    const run = this.readShard(shard)
      .catch((error: unknown) => this.logger.debug({ err: error, shard }, 'reading events failed; the next poll retries'))
      .finally(() => {
        this.reading.delete(shard);
        if (this.again.delete(shard)) this.read(shard);
      });
    this.reading.set(shard, run);
  }

  private async readShard(shard: number): Promise<void> {
    for (;;) {
      const heads = this.heads;
      if (heads === null) return;
      const page = await this.store.readEvents(shard, heads.position(shard), PAGE);
      for (const streamed of page) {
        this.heads = (this.heads ?? heads).with(shard, streamed.streamId);
        for (const observer of this.observers) observer(streamed.event);
        for (const subscriber of this.subscribers) this.dispatch(subscriber, streamed);
      }
      if (page.length < PAGE) return;
    }
  }

  private dispatch(subscriber: Subscriber, streamed: StreamedEvent): void {
    if (subscriber.backlog !== null) {
      subscriber.backlog.push(streamed);
      if (subscriber.backlog.length > this.options.maxBacklog) {
        this.remove(subscriber);
        subscriber.sink.drop('too far behind while catching up; reconnect to resume');
      }
      return;
    }
    this.deliver(subscriber, streamed);
  }

  private deliver(subscriber: Subscriber, streamed: StreamedEvent): void {
    if (subscriber.closed) return;
    if (compareStreamIds(streamed.streamId, subscriber.positions.position(streamed.shard)) <= 0) return;
    subscriber.positions = subscriber.positions.with(streamed.shard, streamed.streamId);
    if (subscriber.types !== null && !subscriber.types.has(streamed.event.type)) return;
    subscriber.sink.event(streamed.event, subscriber.positions.toString());
  }

  private async catchUp(subscriber: Subscriber): Promise<void> {
    for (let shard = 0; shard < this.store.keys.shardCount && !subscriber.closed; shard += 1) {
      for (;;) {
        const page = await this.store.readEvents(shard, subscriber.positions.position(shard), PAGE);
        for (const streamed of page) this.deliver(subscriber, streamed);
        if (page.length < PAGE || subscriber.closed) break;
      }
    }
    const backlog = subscriber.backlog ?? [];
    subscriber.backlog = null;
    for (const streamed of backlog) this.deliver(subscriber, streamed);
  }
}
