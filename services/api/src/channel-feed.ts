import { isRedisUnavailable, type ChannelEvent, type ChannelEventType, type ChannelStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { channelEventFromMessage, formatChannelCursor } from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';

/** Events read from a channel stream per call. */
const PAGE = 500;

export interface ChannelSink {
  /** Called once, before any event: the cursor of the starting point. */
  open(start: string): void;
  event(event: ChannelEvent, cursor: string): void;
  drop(reason: string): void;
}

interface Subscriber {
  positions: Map<string, string>;
  types: ReadonlySet<ChannelEventType> | null;
  sink: ChannelSink;
  /** Channels with events to read; read one at a time, in order, so none is delivered twice. */
  dirty: Set<string>;
  reading: boolean;
  closed: boolean;
}

/**
 * Channel events for SSE subscribers (`GET /v1/events?channels=`). As for client events (event-hub.ts),
 * the pub/sub message is only a doorbell: it makes each subscriber of that channel read the channel's
 * stream from its own position, and every channel is read again every `pollMs` in case a message was
 * missed, so an event is delivered late at worst, never lost nor repeated. The cursor holds one stream
 * position per channel (`<channel>=<entry id>,...`).
 */
export class ChannelFeed {
  private readonly channels: ChannelStore;
  private readonly subscriber: Redis | Cluster;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private readonly byChannel = new Map<string, Set<Subscriber>>();
  private subscribers = 0;
  private pollTimer: NodeJS.Timeout | null = null;

  constructor(channels: ChannelStore, subscriber: Redis | Cluster, logger: Logger, options: { pollMs: number }) {
    this.channels = channels;
    this.subscriber = subscriber;
    this.logger = logger;
    this.pollMs = options.pollMs;
  }

  start(): void {
    const pubsub = this.channels.keys.channelEventsChannel;
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== pubsub) return;
      const name = channelEventFromMessage(message)?.channel;
      if (name !== undefined) for (const subscriber of this.byChannel.get(name) ?? []) this.kick(subscriber, name);
    });
    this.subscriber.subscribe(pubsub).catch((error: unknown) => this.logger.warn({ err: error }, 'subscribing to channel events failed'));
    this.pollTimer = setInterval(() => {
      for (const [name, subscribers] of this.byChannel) for (const subscriber of subscribers) this.kick(subscriber, name);
    }, this.pollMs);
  }

  /** Open subscriptions (SSE streams with `channels=`). */
  get subscriberCount(): number {
    return this.subscribers;
  }

  stop(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.byChannel.clear();
  }

  /**
   * Subscribes to `names` from `after` (positions per channel; a channel it does not name starts at
   * its stream's end now), or from now when null.
   */
  async subscribe(
    names: readonly string[],
    after: ReadonlyMap<string, string> | null,
    types: ReadonlySet<ChannelEventType> | null,
    sink: ChannelSink,
  ): Promise<{ close(): void }> {
    const positions = new Map<string, string>();
    const heads = await Promise.all(names.map((name) => (after?.has(name) ? Promise.resolve(null) : this.channels.latestEventId(name))));
    names.forEach((name, i) => positions.set(name, after?.get(name) ?? (heads[i] as string)));
    const subscriber: Subscriber = { positions, types, sink, dirty: new Set(), reading: false, closed: false };
    this.subscribers += 1;
    for (const name of names) {
      let set = this.byChannel.get(name);
      if (set === undefined) this.byChannel.set(name, (set = new Set()));
      set.add(subscriber);
    }
    sink.open(formatChannelCursor(positions));
    // Anything written since the positions (a resume, or the moments the heads took to read).
    for (const name of names) this.kick(subscriber, name);
    return { close: () => this.remove(subscriber) };
  }

  private remove(subscriber: Subscriber): void {
    if (subscriber.closed) return;
    this.subscribers -= 1;
    subscriber.closed = true;
    for (const name of subscriber.positions.keys()) {
      const set = this.byChannel.get(name);
      set?.delete(subscriber);
      if (set?.size === 0) this.byChannel.delete(name);
    }
  }

  private kick(subscriber: Subscriber, name: string): void {
    subscriber.dirty.add(name);
    if (!subscriber.reading) void this.read(subscriber);
  }

  private async read(subscriber: Subscriber): Promise<void> {
    subscriber.reading = true;
    try {
      while (subscriber.dirty.size > 0 && !subscriber.closed) {
        const name = subscriber.dirty.values().next().value as string;
        subscriber.dirty.delete(name);
        for (;;) {
          const page = await this.channels.readEvents(name, subscriber.positions.get(name) ?? '0-0', PAGE);
          for (const { streamId, event } of page) {
            if (subscriber.closed) return;
            subscriber.positions.set(name, streamId);
            if (subscriber.types === null || subscriber.types.has(event.type))
              subscriber.sink.event(event, formatChannelCursor(subscriber.positions));
          }
          if (page.length < PAGE) break;
        }
      }
    } catch (error) {
      // The next doorbell or poll reads again from the same position.
      if (!isRedisUnavailable(error)) this.logger.warn({ err: error }, 'reading channel events failed');
    } finally {
      subscriber.reading = false;
    }
  }
}
