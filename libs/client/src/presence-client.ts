import { MAX_STATE_BYTES } from '@presence/protocol';
import { Backoff, jitter } from './backoff.js';
import { DEFAULTS } from './defaults.js';
import { FATAL_SERVER_CODES, PresenceClientError } from './errors.js';
import type { Endpoint, Link, LinkHandlers } from './link.js';
import { parseServerFrame } from './server-frame.js';
import { openTcpLink, type CreateConnection } from './tcp-link.js';
import { TypedEmitter } from './typed-emitter.js';
import { defaultWebSocket } from './web-socket.js';
import { openWsLink, wsEndpoint, type WebSocketConstructor } from './ws-link.js';

export type { Endpoint } from './link.js';

type Timer = ReturnType<typeof setTimeout>;
const utf8 = new TextEncoder();

/** A session's state: any JSON object of at most 1024 bytes (docs/protocol.md, `PING <json>`). */
export type PresenceState = Record<string, unknown>;

/**
 * `idle` before connect(); `connecting` while a connection is being opened (TCP + HELLO/WELCOME);
 * `connected` with a live session; `waiting` between attempts; `closed` after close() or a fatal error.
 */
export type PresenceClientStatus = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

/**
 * Why a connection ended: `leave` (close() said BYE), `shutdown` (`BYE shutdown`: the node is
 * draining), `moved` (`BYE moved`: the node lost Redis and sends its clients to other nodes),
 * `timeout` (`BYE timeout`: the server heard nothing for its timeout), `dead` (no WELCOME within
 * connectTimeoutMs, or no PONG within the server's timeout of a PING), `closed` (the socket closed
 * or failed without a word), `error` (the server sent `ERR <code>`).
 */
export type DisconnectReason = 'leave' | 'shutdown' | 'moved' | 'timeout' | 'dead' | 'closed' | 'error';

export interface ConnectedInfo {
  sessionId: string;
  /** The heartbeat interval the server asked for (WELCOME), adopted by the client. */
  intervalMs: number;
  /** The server's timeout: also how long the client waits for a PONG before declaring the connection dead. */
  timeoutMs: number;
  endpoint: Endpoint;
  /** False for the first session of this client object, true after a reconnect. */
  reconnected: boolean;
}

export interface DisconnectedInfo {
  reason: DisconnectReason;
  /** The server's `ERR` code when reason is `error`. */
  code: string | null;
  willReconnect: boolean;
  error: Error | null;
}

export interface ReconnectingInfo {
  /** Attempts in a row since the last stable connection (1 for the first retry). */
  attempt: number;
  delayMs: number;
  /** Where the next attempt goes (endpoints are tried in turn). */
  endpoint: Endpoint;
  /** Why the previous connection or attempt ended. */
  reason: DisconnectReason;
  error: Error | null;
}

export interface PresenceClientEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: DisconnectedInfo];
  reconnecting: [info: ReconnectingInfo];
  /** Round-trip time of one PING/PONG, in milliseconds. */
  rtt: [ms: number];
  /** A fatal error: the client is closed and will not retry. */
  error: [error: PresenceClientError];
  /** The server's answer to a channel request (the `channels` option's JOINs, join() and leave()). */
  channel: [info: ChannelReply];
}

/** JOINED/LEFT/UPDATED with the channel's occupancy after it, or NACK with its code (docs/protocol.md). */
export type ChannelReply =
  | { result: 'joined' | 'left' | 'updated'; channel: string; clients: number; sessions: number }
  | { result: 'nack'; channel: string; code: string; message: string };

export interface PresenceClientOptions {
  clientId: string;
  /**
   * A WebSocket endpoint (`wss://presence.example.com/v1/ws`): the client speaks WebSocket, with the
   * browser's WebSocket, Node's (≥ 22) or the `ws` package (Node 20). Without it, TCP to host/port.
   */
  url?: string;
  /** The WebSocket implementation to use with `url` (a test double, a polyfill). */
  WebSocket?: WebSocketConstructor;
  /** TCP edge node or load balancer; ignored when `url` or `endpoints` is given. */
  host?: string;
  port?: number;
  /**
   * Addresses tried in turn: the first one first, then the next after every failed attempt or
   * drain. Behind a load balancer give one; without one, list several edges so that a client of a
   * draining node has somewhere to go.
   */
  endpoints?: Endpoint[];
  /** Sent in HELLO (`HELLO <clientId> <token>`). */
  token?: string;
  /** Initial state, sent right after WELCOME (and again after every reconnect). */
  state?: PresenceState;
  /**
   * Channels joined right after WELCOME, and again after every reconnect (a reconnect within the
   * offline grace then makes no leave/join pair). Answers arrive as `channel` events.
   */
  channels?: readonly string[];
  backoffBaseMs?: number;
  backoffCapMs?: number;
  stableAfterMs?: number;
  maxReconnectAttempts?: number;
  shutdownJitterMs?: number;
  connectTimeoutMs?: number;
  stateMinIntervalMs?: number;
  /** Largest state accepted by setState (the edge's `MAX_STATE_BYTES`; 1024 unless the operator changed it). */
  maxStateBytes?: number;
  closeTimeoutMs?: number;
  /**
   * Where the browser reports that the network came back (`online` events): the client then retries
   * at once instead of waiting out its backoff. Default: `window` in a browser, none elsewhere.
   */
  networkEvents?: EventTarget | null;
  /** TCP only: opens the byte stream to an endpoint (TLS, a proxy, a test double); defaults to a TCP socket. */
  createConnection?: CreateConnection;
}

interface Connection {
  link: Link | null;
  endpoint: Endpoint;
  /** Called once the link has closed (close() waits for it). */
  onClosed: (() => void) | null;
  phase: 'handshake' | 'live' | 'ended';
  /** Whether an earlier session of this client object existed when this one started. */
  reconnected: boolean;
  sessionId: string;
  intervalMs: number;
  timeoutMs: number;
  lastSentAt: number;
  /** Send times of PINGs not answered yet, oldest first (the server answers in order). */
  pings: number[];
  connectTimer: Timer | null;
  heartbeatTimer: Timer | null;
  deadTimer: Timer | null;
  stateTimer: Timer | null;
  stableTimer: Timer | null;
}

interface Pending {
  resolve: (info: ConnectedInfo) => void;
  reject: (error: Error) => void;
  promise: Promise<ConnectedInfo>;
}

/** Creates a presence client; nothing happens until connect(). */
export function createPresenceClient(options: PresenceClientOptions): PresenceClient {
  return new PresenceClient(options);
}

/**
 * Holds one presence session over the wire protocol (docs/protocol.md) and keeps it alive:
 * heartbeats at the interval the server asks for, only when nothing else was sent; declares the
 * connection dead when a PING goes unanswered for the server's timeout; reconnects with
 * exponential backoff and full jitter (promptly but spread after `BYE shutdown`); re-sends its
 * state after every reconnect. It never logs: it emits events. Policy and numbers: docs/client.md.
 */
export class PresenceClient extends TypedEmitter<PresenceClientEvents> {
  readonly clientId: string;
  private readonly token: string | null;
  private readonly endpoints: readonly Endpoint[];
  private readonly backoff: Backoff;
  private readonly stableAfterMs: number;
  private readonly maxReconnectAttempts: number;
  private readonly shutdownJitterMs: number;
  private readonly connectTimeoutMs: number;
  private readonly stateMinIntervalMs: number;
  private readonly closeTimeoutMs: number;
  private readonly maxStateBytes: number;
  private readonly openLink: (endpoint: Endpoint, handlers: LinkHandlers) => Link;

  private currentStatus: PresenceClientStatus = 'idle';
  private conn: Connection | null = null;
  private endpointIndex = 0;
  private reconnectTimer: Timer | null = null;
  private readonly networkEvents: EventTarget | null;
  private readonly onNetworkBack = (): void => this.retryNow();
  private pending: Pending | null = null;
  private sessions = 0;
  private currentState: PresenceState | null = null;
  private stateJson: string | null = null;
  private stateDirty = false;
  private lastStateSentAt = Number.NEGATIVE_INFINITY;
  private lastRttMs: number | null = null;
  private closing: Promise<void> | null = null;
  /** Channels joined on every new session, in order: the `channels` option, then join(), less leave(). */
  private readonly joined: string[];

  constructor(options: PresenceClientOptions) {
    super();
    if (typeof options.clientId !== 'string' || !/^[\x21-\x7e]+$/.test(options.clientId)) {
      // The server decides which ids it accepts (ERR bad_client_id); this only keeps an id from
      // breaking the framing (a space or newline would turn one frame into something else).
      throw new PresenceClientError('bad_argument', 'clientId must be a non-empty string of printable ASCII without spaces');
    }
    if (options.token !== undefined && !/^[\x21-\x7e]+$/.test(options.token)) {
      throw new PresenceClientError('bad_argument', 'token must be a non-empty string of printable ASCII without spaces');
    }
    for (const channel of options.channels ?? []) assertFrameSafe(channel, 'channels');
    this.joined = [...new Set(options.channels ?? [])];
    this.clientId = options.clientId;
    this.token = options.token ?? null;
    if (options.url !== undefined) {
      const endpoint = wsEndpoint(options.url);
      if (endpoint === null)
        throw new PresenceClientError('bad_argument', `url must be a ws:// or wss:// URL (got ${JSON.stringify(options.url)})`);
      const WebSocketImpl = options.WebSocket ?? defaultWebSocket;
      if (WebSocketImpl === null)
        throw new PresenceClientError('bad_argument', 'no WebSocket implementation here: pass the WebSocket option');
      this.endpoints = [endpoint];
      this.openLink = (target, handlers) => openWsLink(target, handlers, WebSocketImpl);
    } else {
      const endpoints = options.endpoints ?? [{ host: options.host ?? DEFAULTS.host, port: options.port ?? DEFAULTS.port }];
      if (endpoints.length === 0) throw new PresenceClientError('bad_argument', 'endpoints must list at least one host and port');
      this.endpoints = endpoints.map((e) => ({ host: e.host, port: e.port }));
      const createConnection = options.createConnection;
      this.openLink = (target, handlers) => openTcpLink(target, handlers, createConnection);
    }
    this.backoff = new Backoff({
      baseMs: options.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
      capMs: options.backoffCapMs ?? DEFAULTS.backoffCapMs,
    });
    this.stableAfterMs = options.stableAfterMs ?? DEFAULTS.stableAfterMs;
    this.maxReconnectAttempts = options.maxReconnectAttempts ?? DEFAULTS.maxReconnectAttempts;
    this.shutdownJitterMs = options.shutdownJitterMs ?? DEFAULTS.shutdownJitterMs;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.stateMinIntervalMs = options.stateMinIntervalMs ?? DEFAULTS.stateMinIntervalMs;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs;
    this.maxStateBytes = options.maxStateBytes ?? MAX_STATE_BYTES;
    this.networkEvents = options.networkEvents !== undefined ? options.networkEvents : browserWindow();
    if (options.state !== undefined) this.storeState(options.state);
  }

  get status(): PresenceClientStatus {
    return this.currentStatus;
  }

  /** The live session's id, or null between sessions. */
  get sessionId(): string | null {
    return this.conn?.phase === 'live' ? this.conn.sessionId : null;
  }

  /** The latest PING/PONG round trip in ms, or null before the first PONG. */
  get rttMs(): number | null {
    return this.lastRttMs;
  }

  /** The state the client shows (re-sent after every reconnect), or null. */
  get state(): PresenceState | null {
    return this.currentState;
  }

  /**
   * Starts the client. Resolves with the first session; keeps reconnecting after that until
   * close(). Rejects on a fatal error, on close(), or when maxReconnectAttempts ran out.
   */
  connect(): Promise<ConnectedInfo> {
    if (this.currentStatus === 'closed') {
      return Promise.reject(new PresenceClientError('closed', 'the client is closed; create a new one'));
    }
    const conn = this.conn;
    if (conn?.phase === 'live') return Promise.resolve(this.connectedInfo(conn));
    if (this.pending === null) {
      let resolve!: (info: ConnectedInfo) => void;
      let reject!: (error: Error) => void;
      const promise = new Promise<ConnectedInfo>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.pending = { resolve, reject, promise };
    }
    if (this.currentStatus === 'idle') {
      this.networkEvents?.addEventListener('online', this.onNetworkBack);
      this.open();
    }
    return this.pending.promise;
  }

  /** Joins `channel` now (if connected) and on every later session; the answer is a `channel` event. */
  join(channel: string): void {
    assertFrameSafe(channel, 'channel');
    if (!this.joined.includes(channel)) this.joined.push(channel);
    if (this.conn?.phase === 'live') this.conn.link?.send(`JOIN ${channel}`);
  }

  /** Leaves `channel` now (if connected) and stops joining it on later sessions. */
  leave(channel: string): void {
    assertFrameSafe(channel, 'channel');
    const at = this.joined.indexOf(channel);
    if (at !== -1) this.joined.splice(at, 1);
    if (this.conn?.phase === 'live') this.conn.link?.send(`LEAVE ${channel}`);
  }

  /**
   * Replaces the session's state. It goes out at once if none went out in the last
   * stateMinIntervalMs, else with the next PING or when the interval has passed (latest wins).
   * Throws `bad_state` for anything the server would refuse (not an object, over maxStateBytes).
   */
  setState(state: PresenceState): void {
    if (this.currentStatus === 'closed') throw new PresenceClientError('closed', 'the client is closed');
    this.storeState(state);
    const conn = this.conn;
    if (conn?.phase === 'live') this.flushStateSoon(conn);
  }

  /** Leaves with BYE (the session ends with reason `leave`) and stops reconnecting. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.currentStatus = 'closed';
    this.networkEvents?.removeEventListener('online', this.onNetworkBack);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.settle(new PresenceClientError('closed', 'close() was called before a session was established'));
    const conn = this.conn;
    this.conn = null;
    if (conn === null || conn.phase === 'ended') return;
    const wasLive = conn.phase === 'live';
    conn.phase = 'ended';
    clearTimers(conn);
    const link = conn.link;
    if (link !== null) {
      const closed = new Promise<void>((resolve) => {
        conn.onClosed = resolve;
      });
      // BYE even during the handshake: the server handles frames in order, so a HELLO it already
      // took is followed by a clean leave, and one it did not see makes the BYE harmless.
      link.end('BYE');
      const timer = setTimeout(() => {
        link.destroy();
        conn.onClosed?.();
      }, this.closeTimeoutMs);
      await closed;
      clearTimeout(timer);
    }
    if (wasLive) this.emit('disconnected', { reason: 'leave', code: null, willReconnect: false, error: null });
  }

  private storeState(state: PresenceState): void {
    if (state === null || typeof state !== 'object' || Array.isArray(state)) {
      throw new PresenceClientError('bad_state', 'state must be a JSON object');
    }
    let json: string;
    try {
      json = JSON.stringify(state);
    } catch (error) {
      throw new PresenceClientError('bad_state', 'state must be serialisable as JSON', { cause: error });
    }
    // Refused here rather than by the server, whose `ERR bad_state` would end the session for good.
    const bytes = utf8.encode(json).length;
    if (bytes > this.maxStateBytes) {
      throw new PresenceClientError('bad_state', `state may be at most ${this.maxStateBytes} bytes of JSON (got ${bytes})`);
    }
    this.currentState = JSON.parse(json) as PresenceState;
    this.stateJson = json;
    this.stateDirty = true;
  }

  private open(): void {
    this.reconnectTimer = null;
    const endpoint = this.endpoints[this.endpointIndex % this.endpoints.length] as Endpoint;
    this.currentStatus = 'connecting';
    const conn: Connection = {
      link: null,
      endpoint,
      onClosed: null,
      phase: 'handshake',
      reconnected: false,
      sessionId: '',
      intervalMs: 0,
      timeoutMs: 0,
      lastSentAt: 0,
      pings: [],
      connectTimer: null,
      heartbeatTimer: null,
      deadTimer: null,
      stateTimer: null,
      stableTimer: null,
    };
    let link: Link;
    try {
      link = this.openLink(endpoint, {
        frame: (line) => {
          if (conn.phase !== 'ended') this.onFrame(conn, line);
        },
        closed: (error) => {
          conn.onClosed?.();
          this.end(conn, 'closed', { error });
        },
      });
    } catch (error) {
      if (error instanceof PresenceClientError && error.code === 'bad_argument') {
        this.currentStatus = 'closed';
        this.fail(error);
        return;
      }
      this.retry('closed', toError(error), false);
      return;
    }
    conn.link = link;
    this.conn = conn;
    conn.connectTimer = setTimeout(() => {
      this.end(conn, 'dead', { error: new Error(`no WELCOME from ${describe(endpoint)} within ${this.connectTimeoutMs} ms`) });
    }, this.connectTimeoutMs);
    link.send(this.token === null ? `HELLO ${this.clientId}` : `HELLO ${this.clientId} ${this.token}`);
  }

  private onFrame(conn: Connection, line: string): void {
    const frame = parseServerFrame(line);
    switch (frame.type) {
      case 'welcome':
        if (conn.phase === 'handshake') this.goLive(conn, frame.sessionId, frame.intervalMs, frame.timeoutMs);
        return;
      case 'pong': {
        const sentAt = conn.pings.shift();
        if (sentAt !== undefined) {
          this.lastRttMs = performance.now() - sentAt;
          this.armDeadTimer(conn);
          this.emit('rtt', this.lastRttMs);
        }
        return;
      }
      case 'bye':
        if (frame.reason === 'shutdown') this.end(conn, 'shutdown', {});
        else if (frame.reason === 'moved') this.end(conn, 'moved', {});
        else if (frame.reason === 'timeout') this.end(conn, 'timeout', {});
        else this.end(conn, 'closed', { error: new Error(`server said BYE ${frame.reason}`) });
        return;
      case 'err': {
        const message = frame.message === '' ? `server refused: ${frame.code}` : `server refused: ${frame.code}: ${frame.message}`;
        if (FATAL_SERVER_CODES.has(frame.code)) {
          this.end(conn, 'error', { code: frame.code, fatal: new PresenceClientError(frame.code, message) });
        } else {
          this.end(conn, 'error', { code: frame.code, error: new PresenceClientError(frame.code, message) });
        }
        return;
      }
      case 'channel':
        this.emit('channel', { result: frame.result, channel: frame.channel, clients: frame.clients, sessions: frame.sessions });
        if (conn.phase === 'live') this.armDeadTimer(conn);
        return;
      case 'nack':
        this.emit('channel', { result: 'nack', channel: frame.channel, code: frame.code, message: frame.message });
        if (conn.phase === 'live') this.armDeadTimer(conn);
        return;
      case 'empty':
      case 'unknown':
        // Any frame shows the peer is alive; a frame this version does not know is not an error.
        if (conn.phase === 'live') this.armDeadTimer(conn);
        return;
    }
  }

  private goLive(conn: Connection, sessionId: string, intervalMs: number, timeoutMs: number): void {
    if (conn.connectTimer !== null) clearTimeout(conn.connectTimer);
    conn.connectTimer = null;
    conn.phase = 'live';
    conn.reconnected = this.sessions > 0;
    this.sessions += 1;
    conn.sessionId = sessionId;
    conn.intervalMs = intervalMs;
    conn.timeoutMs = timeoutMs;
    conn.lastSentAt = performance.now();
    this.currentStatus = 'connected';
    conn.stableTimer = setTimeout(() => this.backoff.reset(), this.stableAfterMs);
    const info = this.connectedInfo(conn);
    // A new session has no state on the server: the last one set goes out first.
    if (this.stateJson !== null) {
      this.stateDirty = true;
      this.sendPing(conn);
    } else {
      this.scheduleHeartbeat(conn);
    }
    // Every session joins the channels afresh: the server knows none of a new session's channels.
    for (const channel of this.joined) conn.link?.send(`JOIN ${channel}`);
    const pending = this.pending;
    this.pending = null;
    this.emit('connected', info);
    pending?.resolve(info);
  }

  private connectedInfo(conn: Connection): ConnectedInfo {
    return {
      sessionId: conn.sessionId,
      intervalMs: conn.intervalMs,
      timeoutMs: conn.timeoutMs,
      endpoint: { ...conn.endpoint },
      reconnected: conn.reconnected,
    };
  }

  /** Sends a PING now, with the state if it changed since it was last sent. */
  private sendPing(conn: Connection): void {
    const now = performance.now();
    let frame = 'PING';
    if (this.stateDirty && this.stateJson !== null) {
      frame = `PING ${this.stateJson}`;
      this.stateDirty = false;
      this.lastStateSentAt = now;
      if (conn.stateTimer !== null) clearTimeout(conn.stateTimer);
      conn.stateTimer = null;
    }
    conn.link?.send(frame);
    conn.pings.push(now);
    conn.lastSentAt = now;
    if (conn.deadTimer === null) this.armDeadTimer(conn);
    this.scheduleHeartbeat(conn);
  }

  /** The next heartbeat is due one interval after the last frame sent, whatever it was. */
  private scheduleHeartbeat(conn: Connection): void {
    if (conn.heartbeatTimer !== null) clearTimeout(conn.heartbeatTimer);
    const due = conn.lastSentAt + conn.intervalMs - performance.now();
    conn.heartbeatTimer = setTimeout(
      () => {
        conn.heartbeatTimer = null;
        if (conn.phase === 'live') this.sendPing(conn);
      },
      Math.max(0, due),
    );
  }

  /** The connection is dead if the oldest unanswered PING stays unanswered for the server's timeout. */
  private armDeadTimer(conn: Connection): void {
    if (conn.deadTimer !== null) clearTimeout(conn.deadTimer);
    conn.deadTimer = null;
    const oldest = conn.pings[0];
    if (oldest === undefined) return;
    const left = oldest + conn.timeoutMs - performance.now();
    conn.deadTimer = setTimeout(
      () => {
        const waited = Math.round(performance.now() - oldest);
        this.end(conn, 'dead', { error: new Error(`no PONG from ${describe(conn.endpoint)} for ${waited} ms`) });
      },
      Math.max(0, left),
    );
  }

  private flushStateSoon(conn: Connection): void {
    const wait = this.lastStateSentAt + this.stateMinIntervalMs - performance.now();
    if (wait <= 0) {
      this.sendPing(conn);
      return;
    }
    if (conn.stateTimer !== null) return;
    conn.stateTimer = setTimeout(() => {
      conn.stateTimer = null;
      if (conn.phase === 'live' && this.stateDirty) this.sendPing(conn);
    }, wait);
  }

  /** Ends a connection (once) and decides what comes next: nothing, a fatal error, or a reconnect. */
  private end(
    conn: Connection,
    reason: DisconnectReason,
    detail: { code?: string; error?: Error | null; fatal?: PresenceClientError },
  ): void {
    if (conn.phase === 'ended') return;
    const wasLive = conn.phase === 'live';
    conn.phase = 'ended';
    clearTimers(conn);
    conn.link?.destroy();
    if (this.conn === conn) this.conn = null;
    if (this.currentStatus === 'closed') return;
    const error = detail.fatal ?? detail.error ?? null;
    if (detail.fatal !== undefined) {
      this.currentStatus = 'closed';
      if (wasLive) this.emit('disconnected', { reason, code: detail.code ?? null, willReconnect: false, error });
      this.fail(detail.fatal);
      return;
    }
    this.retry(reason, error, wasLive, detail.code ?? null);
  }

  private retry(reason: DisconnectReason, error: Error | null, wasLive: boolean, code: string | null = null): void {
    if (this.backoff.attempt >= this.maxReconnectAttempts) {
      this.currentStatus = 'closed';
      if (wasLive) this.emit('disconnected', { reason, code, willReconnect: false, error });
      this.fail(
        new PresenceClientError('retries_exhausted', `gave up after ${this.backoff.attempt} reconnect attempts in a row`, { cause: error }),
      );
      return;
    }
    const backoffDelay = this.backoff.next();
    // A drain is planned: come back soon, but spread over the window so the node's clients don't
    // stampede. A move is urgent (the old session expires soon) and the node spread its BYEs itself.
    const delayMs = reason === 'shutdown' ? jitter(this.shutdownJitterMs) : reason === 'moved' ? 0 : backoffDelay;
    this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
    const endpoint = this.endpoints[this.endpointIndex] as Endpoint;
    this.currentStatus = 'waiting';
    this.reconnectTimer = setTimeout(() => this.open(), delayMs);
    if (wasLive) this.emit('disconnected', { reason, code, willReconnect: true, error });
    if (this.currentStatus !== 'waiting') return;
    this.emit('reconnecting', { attempt: this.backoff.attempt, delayMs, endpoint: { ...endpoint }, reason, error });
  }

  /** The network is back (the browser says so): the attempt waiting out its backoff goes now. */
  private retryNow(): void {
    if (this.currentStatus !== 'waiting' || this.reconnectTimer === null) return;
    clearTimeout(this.reconnectTimer);
    this.open();
  }

  private fail(error: PresenceClientError): void {
    this.networkEvents?.removeEventListener('online', this.onNetworkBack);
    this.settle(error);
    this.emit('error', error);
  }

  private settle(error: PresenceClientError): void {
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }
}

function clearTimers(conn: Connection): void {
  for (const timer of [conn.connectTimer, conn.heartbeatTimer, conn.deadTimer, conn.stateTimer, conn.stableTimer]) {
    if (timer !== null) clearTimeout(timer);
  }
  conn.connectTimer = conn.heartbeatTimer = conn.deadTimer = conn.stateTimer = conn.stableTimer = null;
}

/** The browser's window (it fires `online` and `offline`), or null outside a browser. */
function browserWindow(): EventTarget | null {
  const global = globalThis as { window?: unknown; addEventListener?: unknown };
  return global.window === globalThis && typeof global.addEventListener === 'function' ? (globalThis as unknown as EventTarget) : null;
}

function describe(endpoint: Endpoint): string {
  return endpoint.url ?? `${endpoint.host}:${endpoint.port}`;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** A channel name that can't break the framing; the server decides which names it accepts (NACK bad_channel). */
function assertFrameSafe(channel: string, what: string): void {
  if (typeof channel !== 'string' || !/^[\x21-\x7e]+$/.test(channel)) {
    throw new PresenceClientError('bad_argument', `${what} must be non-empty strings of printable ASCII without spaces`);
  }
}
