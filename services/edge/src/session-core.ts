/**
 * The session core: what the wire protocol means, for any transport. Frames in (`receive`), frames
 * out (`Connection.send`), and the session lifecycle: HELLO and its token check (frames pipelined
 * behind it are held), the frame rate limit, parsing, the live commands, the HELLO and heartbeat
 * timeouts, and the drain. It knows nothing of sockets: a transport adapter (tcp-transport.ts,
 * ws-transport.ts) creates connections through `connect` and hands in frames, and every
 * transport gets the same limits, auth, grace, metrics and events. Redis is reached through the
 * SessionWriter and the small EdgeStore interface; time through an injectable monotonic clock.
 *
 * A command is one case of `dispatch`. A command answered after an asynchronous step (a Redis write)
 * sends its answer with `conn.send` when the step settles; code outside a connection (frames pushed to
 * a session) sends the same way, through `session.connection`.
 */
import { randomBytes } from 'node:crypto';
import type { OfflineReason } from '@presence/presence-store';
import { PONG_FRAME, parseClientFrame, welcomeFrame, type ClientMessage } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import { ChannelOps, type EdgeChannelStore } from './channel-ops.js';
import { Connection, type Transport } from './connection.js';
import type { EdgeSession } from './edge-session.js';
import type { EdgeStore } from './edge-store.js';
import { IdleTracker } from './idle-tracker.js';
import type { EdgeMetrics, EdgeTallies } from './metrics.js';
import { SessionWriter, type RedisLink } from './session-writer.js';
import { TokenRejected, type TokenGrant, type TokenVerifier } from './token-verifier.js';

export interface SessionCoreOptions {
  node: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  helloTimeoutMs: number;
  /** Off only for debugging clients under a debugger: silent sessions are then never closed. */
  heartbeatCheck: boolean;
  sessionTtlMs: number;
  sessionRefreshMs: number;
  logHeartbeats: boolean;
  /** On shutdown, `BYE shutdown` is spread over this window so clients don't reconnect at once. */
  drainWindowMs: number;
  /** How long a graceful close waits for Redis to confirm the sessions it ended. */
  drainTimeoutMs: number;
  /** A session ended by `closed`/`shutdown` keeps its client online this long (0: no grace). */
  offlineGraceMs: number;
  maxFramesPerSecond: number;
  maxSessionsPerClient: number;
  maxStateBytes: number;
  /** MAX_CHANNELS_PER_SESSION (0: no limit). */
  maxChannelsPerSession: number;
  /** CHANNEL_WRITES_IN_FLIGHT: the node's channel requests in Redis at once (channel-ops.ts). */
  channelWritesInFlight: number;
}

export interface SessionCoreDeps {
  store: EdgeStore;
  logger: Logger;
  metrics: EdgeMetrics;
  options: SessionCoreOptions;
  /** Checks HELLO tokens; null when AUTH_MODE=none. */
  verifyToken: TokenVerifier | null;
  /** Channel presence, on a Redis connection of its own; null: JOIN/LEAVE/SET are refused (`NACK unavailable`). */
  channels?: EdgeChannelStore | null;
  /**
   * Monotonic milliseconds, for the idle checks, the rate limit and session end times; tests move it by
   * hand. The writer turns end times into Redis time with `performance.now()`, the default.
   */
  now?: () => number;
}

/** Frames a client may pipeline behind a HELLO whose token is being checked. */
const MAX_HELD_FRAMES = 32;
const RATE_WINDOW_MS = 1_000;
const DRAIN_TICK_MS = 50;
/** What a client of a fenced node is told (ERR server_busy before its session starts). */
export const CUT_OFF_MESSAGE = 'this node cannot reach Redis; connect to another node';

export class SessionCore {
  readonly logger: Logger;
  readonly metrics: EdgeMetrics;
  private readonly tallies: EdgeTallies;
  private readonly store: EdgeStore;
  private readonly options: SessionCoreOptions;
  private readonly verifyToken: TokenVerifier | null;
  private readonly now: () => number;
  private readonly connections = new Set<Connection>();
  private readonly perAddress = new Map<string, number>();
  private readonly sessions = new Map<string, EdgeSession>();
  private readonly helloTracker: IdleTracker<Connection>;
  private readonly liveTracker: IdleTracker<Connection>;
  private readonly writer: SessionWriter;
  private readonly channelOps: ChannelOps;
  private scanTimer: NodeJS.Timeout | null = null;

  constructor(deps: SessionCoreDeps) {
    const { store, logger, metrics, options } = deps;
    this.store = store;
    this.logger = logger;
    this.metrics = metrics;
    this.tallies = metrics.tallies;
    this.options = options;
    this.verifyToken = deps.verifyToken;
    this.now = deps.now ?? (() => performance.now());
    this.helloTracker = new IdleTracker(options.helloTimeoutMs);
    this.liveTracker = new IdleTracker(options.heartbeatTimeoutMs);
    metrics.gaugeOpen({ connections: () => this.connections.size, sessions: () => this.sessions.size });
    this.channelOps = new ChannelOps(
      deps.channels ?? null,
      {
        node: options.node,
        maxChannelsPerSession: options.maxChannelsPerSession,
        maxInFlight: options.channelWritesInFlight,
        // A few requests per in-flight slot may wait; beyond that a JOIN storm is refused, not queued.
        maxQueued: options.channelWritesInFlight * 64,
      },
      logger,
      metrics,
    );
    metrics.gaugeChannelsPending(() => this.channelOps.pending);
    this.writer = new SessionWriter({
      store,
      node: options.node,
      sessionTtlMs: options.sessionTtlMs,
      refreshMs: options.sessionRefreshMs,
      startedAt: Date.now(),
      logger,
      metrics,
      sessions: this.sessions,
      offlineGraceMs: options.offlineGraceMs,
      maxSessionsPerClient: options.maxSessionsPerClient,
      onRegistered: (session) => this.channelOps.registered(session),
      onRejected: (session) => {
        session.connection.refuse('too_many_sessions', `at most ${options.maxSessionsPerClient} sessions per clientId`);
      },
    });
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Open connections from one remote address (counted only for connections given one). */
  connectionsFrom(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Starts the idle checks and the writer's periodic refresh. */
  start(): void {
    const { helloTimeoutMs, heartbeatTimeoutMs } = this.options;
    const scanMs = Math.max(10, Math.min(100, Math.floor(Math.min(helloTimeoutMs, heartbeatTimeoutMs) / 20)));
    this.scanTimer = setInterval(() => this.scan(), scanMs);
    this.writer.start();
  }

  /** Redis is reachable again: renew deadlines and retry pending writes now. */
  redisReady(): void {
    this.writer.kick();
  }

  /** What the writes have seen of the link to Redis (for the fence). */
  redisLink(): RedisLink {
    return this.writer.link();
  }

  /**
   * Moves every client elsewhere (the node is fenced): connections without a session are refused
   * (`ERR server_busy`), live sessions get `BYE moved` spread over `windowMs`. Their ends are queued
   * for Redis like any other, and written once the link is back.
   */
  async moveSessions(windowMs: number): Promise<void> {
    for (const conn of this.connections) {
      if (conn.state === 'hello' || conn.state === 'authenticating') conn.refuse('server_busy', CUT_OFF_MESSAGE);
    }
    await this.closeLiveSpread('moved', windowMs);
  }

  /** A new connection on any transport: counted from now on, and given HELLO_TIMEOUT_MS to say HELLO. */
  connect(transport: Transport, address: string | null): Connection {
    const conn = new Connection(this, transport, address);
    this.connections.add(conn);
    if (address !== null) this.perAddress.set(address, this.connectionsFrom(address) + 1);
    this.helloTracker.add(conn, this.now());
    return conn;
  }

  /** One frame of `conn` (see Connection.receive). An exception while handling it closes the connection. */
  receive(conn: Connection, frame: Buffer): boolean {
    try {
      return this.handle(conn, frame);
    } catch (error) {
      conn.fail(error);
      return false;
    }
  }

  /** Closes connections silent too long: no HELLO within HELLO_TIMEOUT_MS, no frame within the heartbeat timeout. */
  scan(): void {
    const now = this.now();
    for (const conn of this.helloTracker.expire(now)) {
      conn.refuse('hello_timeout', `no HELLO within ${this.options.helloTimeoutMs} ms`);
    }
    if (!this.options.heartbeatCheck) return;
    for (const conn of this.liveTracker.expire(now)) if (conn.state === 'live') conn.close('timeout');
  }

  /** `conn` takes no more frames (Connection.close): its session ends unless it has, and no idle check looks at it again. */
  detach(conn: Connection, reason: OfflineReason): void {
    this.endSession(conn, reason);
    this.helloTracker.delete(conn);
    this.liveTracker.delete(conn);
  }

  /** `conn` is gone (Connection.close): it no longer counts against the node's and its address's limits. */
  release(conn: Connection): void {
    if (!this.connections.delete(conn) || conn.address === null) return;
    const left = this.connectionsFrom(conn.address) - 1;
    if (left <= 0) this.perAddress.delete(conn.address);
    else this.perAddress.set(conn.address, left);
  }

  /**
   * Drains the node: connections without a session are cut off, live sessions get `BYE shutdown`
   * spread over the drain window, their ends are written to Redis (up to the drain timeout), the node
   * leaves the stats, and whatever is still open is cut off.
   */
  async stop(): Promise<void> {
    for (const conn of this.connections) if (conn.state === 'hello' || conn.state === 'authenticating') conn.close('dropped');
    this.logger.info({ sessions: this.sessions.size, windowMs: this.options.drainWindowMs }, 'draining');
    await this.closeLiveSpread('shutdown', this.options.drainWindowMs);
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    const left = await this.writer.drain(this.options.drainTimeoutMs);
    this.writer.stop();
    // Redis that never answered was reported already (RedisReachability): nothing of this node is in it.
    if (left > 0 && this.writer.link().everAnswered) this.logger.warn({ left }, 'Redis did not confirm every session end before shutdown');
    await this.store.removeNode(this.options.node).catch(() => {});
    for (const conn of this.connections) conn.close('dropped');
  }

  /** Returns false once the connection stops taking frames, so the transport stops handing them in. */
  private handle(conn: Connection, frame: Buffer): boolean {
    if (conn.state === 'authenticating') return this.hold(conn, frame);
    if (!conn.open) return false;
    const now = this.now();
    if (now - conn.rateWindowStart >= RATE_WINDOW_MS) {
      conn.rateWindowStart = now;
      conn.rateCount = 0;
    }
    if (++conn.rateCount > this.options.maxFramesPerSecond) {
      conn.refuse('rate_limited', `at most ${this.options.maxFramesPerSecond} frames per second`);
      return false;
    }
    const message = parseClientFrame(frame, this.options.maxStateBytes);
    this.tallies.frames += 1;
    if (conn.state === 'hello') return this.hello(conn, message);
    const session = conn.session;
    if (session === null) return false;
    this.liveTracker.touch(conn, now);
    return this.dispatch(conn, session, message);
  }

  /** The commands of a live session, one case each. */
  private dispatch(conn: Connection, session: EdgeSession, message: ClientMessage): boolean {
    switch (message.type) {
      case 'ping':
        this.tallies.heartbeats += 1;
        if (message.stateJson !== null && message.stateJson !== session.stateJson) {
          session.stateJson = message.stateJson;
          this.writer.stateChanged(session);
        }
        if (this.options.logHeartbeats) this.logger.info({ clientId: session.clientId, sessionId: session.sessionId }, 'heartbeat');
        conn.send(PONG_FRAME);
        return conn.open;
      case 'bye':
        conn.close('leave');
        return false;
      case 'hello':
        conn.refuse('bad_frame', 'HELLO was already received on this connection');
        return false;
      case 'empty':
        return true;
      case 'join':
        this.channelOps.request(session, { kind: 'join', channel: message.channel, stateJson: message.stateJson });
        return conn.open;
      case 'leave':
        this.channelOps.request(session, { kind: 'leave', channel: message.channel });
        return conn.open;
      case 'set':
        this.channelOps.request(session, { kind: 'set', channel: message.channel, stateJson: message.stateJson });
        return conn.open;
      case 'channel-error':
        this.channelOps.nack(session, null, message.channel, message.code, message.message);
        return conn.open;
    }
  }

  private hello(conn: Connection, message: ClientMessage): boolean {
    if (message.type === 'empty') return true;
    if (message.type !== 'hello') {
      conn.refuse('hello_required', 'the first frame must be HELLO <clientId> [<token>]');
      return false;
    }
    if (this.verifyToken === null) this.startSession(conn, message.clientId, null);
    else this.authenticate(conn, this.verifyToken, message.clientId, message.token ?? conn.transport.token);
    return true;
  }

  /** Frames pipelined behind a HELLO wait for its token check (the transport is paused meanwhile). */
  private hold(conn: Connection, frame: Buffer): boolean {
    if ((conn.held ??= []).length >= MAX_HELD_FRAMES) {
      conn.refuse('rate_limited', 'too many frames before WELCOME');
      return false;
    }
    conn.held.push(Buffer.from(frame));
    return true;
  }

  private authenticate(conn: Connection, verify: TokenVerifier, clientId: string, token: string | null): void {
    conn.state = 'authenticating';
    conn.transport.pause();
    void verify(token, clientId).then(
      (grant) => {
        if (conn.state === 'authenticating') this.admit(conn, clientId, grant ?? null);
      },
      (error: unknown) => {
        if (conn.state !== 'authenticating') return;
        conn.refuse('unauthorized', error instanceof TokenRejected ? error.message : 'token could not be checked');
      },
    );
  }

  /** The token is good: the session starts, then the frames held behind HELLO are handled in order. */
  private admit(conn: Connection, clientId: string, grant: TokenGrant | null): void {
    try {
      this.startSession(conn, clientId, grant?.channels ?? null);
    } catch (error) {
      conn.fail(error);
      return;
    }
    const held = conn.held ?? [];
    conn.held = null;
    for (const frame of held) if (!this.receive(conn, frame)) return;
    conn.transport.resume();
  }

  private startSession(conn: Connection, clientId: string, channelRules: readonly string[] | null): void {
    const sessionId = randomBytes(10).toString('hex');
    const session: EdgeSession = {
      sessionId,
      clientId,
      shard: this.store.keys.shardOf(clientId),
      connection: conn,
      stateJson: null,
      stateQueued: false,
      registered: false,
      registeredAt: null,
      endedWith: null,
      endedAtMono: null,
      channelRules,
      channelQueue: null,
      channelBusy: false,
      joined: null,
    };
    this.helloTracker.delete(conn);
    conn.session = session;
    conn.state = 'live';
    if (this.options.heartbeatCheck) this.liveTracker.add(conn, this.now());
    this.sessions.set(sessionId, session);
    this.writer.add(session);
    conn.send(welcomeFrame(sessionId, this.options.heartbeatIntervalMs, this.options.heartbeatTimeoutMs));
    if (this.logger.isLevelEnabled('info')) {
      this.logger.info({ clientId, sessionId, remote: conn.transport.remote() }, 'session started');
    }
  }

  /** Ends the session locally (once) and queues its removal; the first reason given wins. */
  private endSession(conn: Connection, reason: OfflineReason): void {
    const session = conn.session;
    if (session === null || session.endedWith !== null) return;
    session.endedWith = reason;
    session.endedAtMono = this.now();
    this.sessions.delete(session.sessionId);
    this.channelOps.ended(session);
    this.tallies.sessionsEnded[reason] += 1;
    this.writer.remove(session, reason);
    this.logger.info({ clientId: session.clientId, sessionId: session.sessionId, reason }, 'session ended');
  }

  /** Ends every live session with `BYE <reason>`, evenly spread over `windowMs`. */
  private async closeLiveSpread(reason: 'shutdown' | 'moved', windowMs: number): Promise<void> {
    const live = [...this.connections].filter((conn) => conn.state === 'live');
    const ticks = Math.max(1, Math.floor(windowMs / DRAIN_TICK_MS));
    const perTick = Math.ceil(live.length / ticks);
    for (let i = 0; i < live.length; i += perTick) {
      for (const conn of live.slice(i, i + perTick)) if (conn.state === 'live') conn.close(reason);
      if (i + perTick < live.length) await new Promise((resolve) => setTimeout(resolve, DRAIN_TICK_MS));
    }
    // Sessions that started during the window (connections accepted just before it began).
    for (const conn of this.connections) if (conn.state === 'live') conn.close(reason);
  }
}
