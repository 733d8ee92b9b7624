/**
 * JOIN, LEAVE and SET of an edge's sessions, carried to Redis (ChannelStore) and answered with
 * `JOINED`/`LEFT`/`UPDATED` once Redis holds the change, or `NACK <channel> <code> <message>`.
 *
 * - A session's requests run one at a time, in the order sent, and only once Redis has registered
 *   the session (a JOIN pipelined right behind HELLO waits for it).
 * - At most `maxInFlight` channel writes of the whole node are in flight; past `maxQueued` waiting
 *   requests a new one is refused (`NACK overloaded`) instead of growing a queue without end. With
 *   their own Redis connection (main.ts), a flood of JOINs never delays the session refreshes.
 * - With a `channels` claim in the token, a JOIN elsewhere is `forbidden` without asking Redis.
 * - Answers come in the order of the requests, except `NACK overloaded`, which is immediate.
 * - If Redis loses a session (it restarted empty, or swept it while this node was cut off) and the
 *   edge registers it again, the session joins its channels again, with their states, before any
 *   request of its own: silently, or with `NACK <channel> unavailable` if Redis refuses one.
 */
import { isRedisUnavailable, type ChannelStore } from '@presence/presence-store';
import { channelAckFrame, nackFrame, type ChannelNackCode } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import type { EdgeSession } from './edge-session.js';
import type { EdgeMetrics } from './metrics.js';

/** What the edge needs of the channel store (a fake in the session core's unit tests). */
export type EdgeChannelStore = Pick<ChannelStore, 'join' | 'leave' | 'setState'>;

export type ChannelRequest =
  | { kind: 'join'; channel: string; stateJson: string | null; rejoin?: true }
  | { kind: 'leave'; channel: string }
  | { kind: 'set'; channel: string; stateJson: string };

export interface ChannelOpsOptions {
  node: string;
  /** MAX_CHANNELS_PER_SESSION (0: no limit). */
  maxChannelsPerSession: number;
  /** CHANNEL_WRITES_IN_FLIGHT: channel requests of the node in Redis at once. */
  maxInFlight: number;
  /** Requests waiting (all sessions together) beyond which new ones get `NACK overloaded`. */
  maxQueued: number;
}

/** Whether a token's `channels` claim lets its holder join `channel`: exact names, or `prefix*`. */
export function channelAllowed(rules: readonly string[] | null, channel: string): boolean {
  if (rules === null) return true;
  return rules.some((rule) => (rule.endsWith('*') ? channel.startsWith(rule.slice(0, -1)) : rule === channel));
}

export class ChannelOps {
  private readonly store: EdgeChannelStore | null;
  private readonly options: ChannelOpsOptions;
  private readonly logger: Logger;
  private readonly metrics: Pick<EdgeMetrics, 'channelRequests'>;
  private inFlight = 0;
  private queued = 0;
  /** Sessions with a request ready to go, waiting for an in-flight slot. */
  private readonly waiting: EdgeSession[] = [];

  constructor(store: EdgeChannelStore | null, options: ChannelOpsOptions, logger: Logger, metrics: Pick<EdgeMetrics, 'channelRequests'>) {
    this.store = store;
    this.options = options;
    this.logger = logger;
    this.metrics = metrics;
  }

  get pending(): number {
    return this.queued + this.inFlight;
  }

  request(session: EdgeSession, request: ChannelRequest): void {
    const { channel } = request;
    if (this.store === null) return this.nack(session, request.kind, channel, 'unavailable', 'channels are not enabled on this node');
    if (this.queued >= this.options.maxQueued)
      return this.nack(session, request.kind, channel, 'overloaded', 'too many channel requests in progress; retry');
    (session.channelQueue ??= []).push(request);
    this.queued += 1;
    this.pump(session);
  }

  /**
   * Redis registered the session: its waiting requests may go. If it had joined channels, Redis had
   * lost it and registered it again: those are joined again first.
   */
  registered(session: EdgeSession): void {
    if (session.joined !== null && session.joined.size > 0 && this.store !== null) {
      const rejoins: ChannelRequest[] = [...session.joined].map(([channel, stateJson]) => ({
        kind: 'join',
        channel,
        stateJson,
        rejoin: true,
      }));
      session.channelQueue = [...rejoins, ...(session.channelQueue ?? [])];
      this.queued += rejoins.length;
    }
    this.pump(session);
  }

  /** The session ended: its waiting requests are dropped (the outbox leaves whatever it had joined). */
  ended(session: EdgeSession): void {
    this.queued -= session.channelQueue?.length ?? 0;
    session.channelQueue = null;
  }

  private pump(session: EdgeSession): void {
    const queue = session.channelQueue;
    if (session.channelBusy || queue === null || queue.length === 0 || !session.registered || session.endedWith !== null) return;
    if (this.inFlight >= this.options.maxInFlight) {
      if (!this.waiting.includes(session)) this.waiting.push(session);
      return;
    }
    const request = queue.shift() as ChannelRequest;
    this.queued -= 1;
    this.inFlight += 1;
    session.channelBusy = true;
    void this.run(session, request).finally(() => {
      this.inFlight -= 1;
      session.channelBusy = false;
      this.pump(session);
      while (this.inFlight < this.options.maxInFlight && this.waiting.length > 0) this.pump(this.waiting.shift() as EdgeSession);
    });
  }

  private async run(session: EdgeSession, request: ChannelRequest): Promise<void> {
    const store = this.store as EdgeChannelStore;
    const { channel } = request;
    try {
      switch (request.kind) {
        case 'join': {
          // Checked in turn, not at once, so that every request is answered in the order sent.
          if (!channelAllowed(session.channelRules, channel)) {
            return this.nack(session, 'join', channel, 'forbidden', "the token's channels claim does not include this channel");
          }
          const result = await store.join(session, channel, this.options.node, request.stateJson, this.options.maxChannelsPerSession, {
            rejoin: request.rejoin === true,
          });
          if (request.rejoin === true) return this.rejoined(session, channel, result.status);
          if (result.status === 'too_many_channels') {
            return this.nack(
              session,
              'join',
              channel,
              'too_many_channels',
              `at most ${this.options.maxChannelsPerSession} channels per session`,
            );
          }
          if (result.status === 'gone')
            return this.nack(session, 'join', channel, 'unavailable', 'the session is not registered in Redis yet; retry');
          this.metrics.channelRequests.inc({ kind: 'join', result: 'joined' });
          const joined = (session.joined ??= new Map());
          joined.set(channel, request.stateJson ?? joined.get(channel) ?? null);
          return this.send(session, channelAckFrame('JOINED', channel, result.occupancy.clients, result.occupancy.sessions));
        }
        case 'leave': {
          const result = await store.leave(session, channel);
          if (result.status === 'not_joined')
            return this.nack(session, 'leave', channel, 'not_joined', 'this session has not joined the channel');
          this.metrics.channelRequests.inc({ kind: 'leave', result: 'left' });
          session.joined?.delete(channel);
          return this.send(session, channelAckFrame('LEFT', channel, result.occupancy.clients, result.occupancy.sessions));
        }
        case 'set': {
          const result = await store.setState(session, channel, request.stateJson);
          if (result.status === 'not_joined')
            return this.nack(session, 'set', channel, 'not_joined', 'this session has not joined the channel');
          this.metrics.channelRequests.inc({ kind: 'set', result: 'updated' });
          session.joined?.set(channel, request.stateJson);
          return this.send(session, channelAckFrame('UPDATED', channel, result.occupancy.clients, result.occupancy.sessions));
        }
      }
    } catch (error) {
      if (!isRedisUnavailable(error)) this.logger.warn({ err: error, channel, kind: request.kind }, 'channel write failed');
      if (request.kind === 'join' && request.rejoin === true) return this.rejoined(session, channel, 'unavailable');
      this.nack(session, request.kind, channel, 'unavailable', 'Redis could not be reached; retry');
    }
  }

  /** A join again after Redis lost the session: silent when it worked (the client never left). */
  private rejoined(session: EdgeSession, channel: string, status: string): void {
    this.metrics.channelRequests.inc({ kind: 'rejoin', result: status });
    if (status === 'joined') return;
    session.joined?.delete(channel);
    this.logger.warn(
      { clientId: session.clientId, sessionId: session.sessionId, channel, status },
      'channel not joined again after Redis lost the session',
    );
    this.send(session, nackFrame(channel, 'unavailable', 'Redis lost this membership and did not take it back; JOIN again'));
  }

  /** A NACK, counted; `kind` null for a frame that was not a well-formed request. */
  nack(session: EdgeSession, kind: ChannelRequest['kind'] | null, channel: string, code: ChannelNackCode, message: string): void {
    this.metrics.channelRequests.inc({ kind: kind ?? 'malformed', result: code });
    this.send(session, nackFrame(channel, code, message));
  }

  private send(session: EdgeSession, frame: string): void {
    if (session.endedWith === null && session.connection.open) session.connection.send(frame);
  }
}
