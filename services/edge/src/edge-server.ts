import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { sessionMember, type OfflineReason, type PresenceStore } from '@presence/presence-store';
import {
  FrameDecoder,
  PONG_FRAME,
  ProtocolError,
  byeFrame,
  errorFrame,
  parseClientFrame,
  welcomeFrame,
  type ErrorCode,
} from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import type { EdgeConnection, EdgeSession } from './edge-session.js';
import { IdleTracker, UNTRACKED } from './idle-tracker.js';
import type { EdgeMetrics } from './metrics.js';
import { SessionWriter } from './session-writer.js';
import { TokenRejected, type TokenVerifier } from './token-verifier.js';

export interface EdgeServerOptions {
  host: string;
  port: number;
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
  maxConnections: number;
  /** 0: no per-address limit (behind a TCP load balancer every client shares its address). */
  maxConnectionsPerAddress: number;
  maxFramesPerSecond: number;
  maxSessionsPerClient: number;
  maxStateBytes: number;
}

export interface EdgeServerDeps {
  store: PresenceStore;
  logger: Logger;
  metrics: EdgeMetrics;
  options: EdgeServerOptions;
  /** Checks HELLO tokens; null when AUTH_MODE=none. */
  verifyToken: TokenVerifier | null;
}

export interface EdgeServer {
  listen(): Promise<AddressInfo>;
  /** Stops accepting, ends every session with `BYE shutdown` over the drain window, writes the ends to Redis, closes. */
  close(): Promise<void>;
  /** Redis is reachable again: renew deadlines and retry pending writes now. */
  redisReady(): void;
  readonly sessionCount: number;
  readonly connectionCount: number;
}

/** A client that does not read what it is sent is dropped past this many unsent bytes. */
const MAX_UNSENT_BYTES = 64 * 1024;
/** After `ERR` or `BYE` the peer gets this long to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
/** Frames a client may pipeline behind a HELLO whose token is being checked. */
const MAX_HELD_FRAMES = 32;
const DRAIN_TICK_MS = 50;
const CONNECTION = Symbol('edge-connection');

type SocketWithConnection = Socket & { [CONNECTION]?: EdgeConnection };

export function createEdgeServer(deps: EdgeServerDeps): EdgeServer {
  const { store, logger, metrics, options, verifyToken } = deps;
  const tallies = metrics.tallies;
  /** Sockets whose peer has closed, to be closed after this turn's writes (onEnd). */
  let endedSockets: Socket[] = [];
  const connections = new Set<EdgeConnection>();
  const perAddress = new Map<string, number>();
  const sessions = new Map<string, EdgeSession>();
  metrics.gaugeOpen({ connections: () => connections.size, sessions: () => sessions.size });
  const helloTracker = new IdleTracker<EdgeConnection>(options.helloTimeoutMs);
  const liveTracker = new IdleTracker<EdgeConnection>(options.heartbeatTimeoutMs);
  const writer = new SessionWriter({
    store, node: options.node, sessionTtlMs: options.sessionTtlMs, refreshMs: options.sessionRefreshMs,
    startedAt: Date.now(), logger, metrics, sessions, offlineGraceMs: options.offlineGraceMs,
    maxSessionsPerClient: options.maxSessionsPerClient,
    onRejected: (session) => {
      closeWithError(session.connection, 'too_many_sessions', `at most ${options.maxSessionsPerClient} sessions per clientId`);
    },
  });
  let closing = false;
  let scanTimer: NodeJS.Timeout | null = null;

  // allowHalfOpen: a peer's FIN is handled by onEnd (the session ends there, not turns later at `close`).
  const server: Server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: options.heartbeatTimeoutMs, allowHalfOpen: true });
  server.on('connection', accept);
  server.on('error', (err) => logger.error({ err }, 'edge server error'));

  function accept(socket: Socket): void {
    if (closing) {
      socket.destroy();
      return;
    }
    // The peer's address is read only where the per-address limit needs it: reading it makes Node
    // keep a peer-name record on the socket, about 90 bytes of every idle connection (logs read it
    // on their own, through remoteOf).
    const address = options.maxConnectionsPerAddress > 0 ? socket.remoteAddress ?? 'unknown' : null;
    const conn: EdgeConnection = {
      socket, decoder: new FrameDecoder(), phase: 'hello', address,
      session: null, rateWindowStart: 0, rateCount: 0, held: null, ...UNTRACKED,
    };
    (socket as SocketWithConnection)[CONNECTION] = conn;
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    connections.add(conn);
    if (connections.size > options.maxConnections) {
      closeWithError(conn, 'server_busy', 'this node is full; try again later or another node');
      return;
    }
    if (address !== null) {
      const count = (perAddress.get(address) ?? 0) + 1;
      perAddress.set(address, count);
      if (count > options.maxConnectionsPerAddress) {
        closeWithError(conn, 'too_many_connections', `at most ${options.maxConnectionsPerAddress} connections per address`);
        return;
      }
    }
    helloTracker.add(conn, performance.now());
    socket.on('data', onData);
  }

  function onData(this: SocketWithConnection, chunk: Buffer): void {
    const conn = this[CONNECTION];
    if (conn === undefined || conn.phase === 'closed') return;
    // The answers to one chunk's frames leave in one writev instead of one write syscall each.
    this.cork();
    feed(conn, chunk);
    this.uncork();
    if (this.writableLength > MAX_UNSENT_BYTES && !this.destroyed) dropSlowReader(conn);
  }

  function feed(conn: EdgeConnection, chunk: Buffer): void {
    try {
      conn.decoder.push(chunk, (frame) => handleFrame(conn, frame));
    } catch (error) {
      fail(conn, error);
    }
  }

  function fail(conn: EdgeConnection, error: unknown): void {
    if (error instanceof ProtocolError) closeWithError(conn, error.code, error.message);
    else {
      logger.error({ err: error, remote: remoteOf(conn.socket) }, 'unexpected error handling a frame');
      closeWithError(conn, 'bad_frame', 'internal error');
    }
  }

  /**
   * The peer closed its side (FIN): the session ends now, not turns later at `close`. Answers still
   * unsent are flushed before our FIN (a client such as `nc` may half-close and read on). Otherwise
   * the socket is closed without Node's shutdown round (a shutdown syscall and two more event-loop
   * turns), in one setImmediate for the turn's ended sockets. endSession has just queued the
   * writer's flush, unless one is in flight, so the ends leave for Redis before the close syscalls
   * run: when 1000 clients leave at once, their offline events need not wait for 1000 of them.
   */
  function onEnd(this: SocketWithConnection): void {
    const conn = this[CONNECTION];
    if (conn !== undefined) endSession(conn, 'closed');
    if (this.writableLength > 0) this.end();
    else if (endedSockets.push(this) === 1) setImmediate(closeEnded);
  }

  function closeEnded(): void {
    const sockets = endedSockets;
    endedSockets = [];
    for (const socket of sockets) socket.destroy();
  }

  function onClose(this: SocketWithConnection): void {
    const conn = this[CONNECTION];
    if (conn === undefined) return;
    endSession(conn, 'closed');
    conn.phase = 'closed';
    helloTracker.delete(conn);
    liveTracker.delete(conn);
    if (connections.delete(conn) && conn.address !== null) {
      const left = (perAddress.get(conn.address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(conn.address);
      else perAddress.set(conn.address, left);
    }
  }

  function onError(this: SocketWithConnection, err: Error): void {
    // A reset or broken pipe: `close` follows and ends the session as `closed`.
    if (logger.isLevelEnabled('debug')) logger.debug({ err, remote: remoteOf(this) }, 'socket error');
  }

  /** Returns false once the connection stops taking frames, so the decoder stops handing them out. */
  function handleFrame(conn: EdgeConnection, frame: Buffer): boolean {
    if (conn.phase === 'authenticating') {
      // Frames pipelined behind a HELLO wait for its token check (the socket is paused meanwhile).
      if ((conn.held ??= []).length >= MAX_HELD_FRAMES) {
        closeWithError(conn, 'rate_limited', 'too many frames before WELCOME');
        return false;
      }
      conn.held.push(Buffer.from(frame));
      return true;
    }
    const now = performance.now();
    if (now - conn.rateWindowStart >= 1_000) {
      conn.rateWindowStart = now;
      conn.rateCount = 0;
    }
    if (++conn.rateCount > options.maxFramesPerSecond) {
      closeWithError(conn, 'rate_limited', `at most ${options.maxFramesPerSecond} frames per second`);
      return false;
    }
    const message = parseClientFrame(frame, options.maxStateBytes);
    tallies.frames += 1;
    if (conn.phase === 'hello') {
      if (message.type === 'empty') return true;
      if (message.type !== 'hello') {
        closeWithError(conn, 'hello_required', 'the first frame must be HELLO <clientId> [<token>]');
        return false;
      }
      if (verifyToken === null) {
        startSession(conn, message.clientId);
        return true;
      }
      authenticate(conn, message.clientId, message.token);
      return true;
    }
    const session = conn.session;
    if (session === null || conn.phase !== 'live') return false;
    liveTracker.touch(conn, now);
    switch (message.type) {
      case 'ping':
        tallies.heartbeats += 1;
        if (message.stateJson !== null && message.stateJson !== session.stateJson) {
          session.stateJson = message.stateJson;
          writer.stateChanged(session);
        }
        if (options.logHeartbeats) logger.info({ clientId: session.clientId, sessionId: session.sessionId }, 'heartbeat');
        send(conn, PONG_FRAME);
        return conn.phase === 'live';
      case 'bye':
        endSession(conn, 'leave');
        finish(conn);
        return false;
      case 'hello':
        closeWithError(conn, 'bad_frame', 'HELLO was already received on this connection');
        return false;
      case 'empty':
        return true;
    }
  }

  function authenticate(conn: EdgeConnection, clientId: string, token: string | null): void {
    conn.phase = 'authenticating';
    conn.socket.pause();
    (verifyToken as TokenVerifier)(token, clientId).then(
      () => {
        if (conn.phase !== 'authenticating') return;
        startSession(conn, clientId);
        const held = conn.held ?? [];
        conn.held = null;
        for (const frame of held) {
          try {
            if (!handleFrame(conn, frame)) return;
          } catch (error) {
            fail(conn, error);
            return;
          }
        }
        conn.socket.resume();
      },
      (error: unknown) => {
        if (conn.phase !== 'authenticating') return;
        const reason = error instanceof TokenRejected ? error.message : 'token could not be checked';
        closeWithError(conn, 'unauthorized', reason);
      },
    );
  }

  function startSession(conn: EdgeConnection, clientId: string): void {
    const sessionId = randomBytes(10).toString('hex');
    const session: EdgeSession = {
      sessionId, clientId, shard: store.keys.shardOf(clientId), member: sessionMember(sessionId, clientId), connection: conn,
      stateJson: null, stateQueued: false, registered: false, registeredAt: null, endedWith: null, endedAtMono: null,
    };
    helloTracker.delete(conn);
    conn.session = session;
    conn.phase = 'live';
    if (options.heartbeatCheck) liveTracker.add(conn, performance.now());
    sessions.set(sessionId, session);
    writer.add(session);
    send(conn, welcomeFrame(sessionId, options.heartbeatIntervalMs, options.heartbeatTimeoutMs));
    if (logger.isLevelEnabled('info')) logger.info({ clientId, sessionId, remote: remoteOf(conn.socket) }, 'session started');
  }

  /** Ends the session locally (once) and queues its removal; the first reason given wins. */
  function endSession(conn: EdgeConnection, reason: OfflineReason): void {
    const session = conn.session;
    if (session === null || session.endedWith !== null) return;
    session.endedWith = reason;
    session.endedAtMono = performance.now();
    sessions.delete(session.sessionId);
    liveTracker.delete(conn);
    tallies.sessionsEnded[reason] += 1;
    writer.remove(session, reason);
    logger.info({ clientId: session.clientId, sessionId: session.sessionId, reason }, 'session ended');
  }

  function send(conn: EdgeConnection, frame: string | Buffer): void {
    conn.socket.write(frame);
    // While corked (onData), what is unsent is judged after the uncork hands it to the kernel.
    if (conn.socket.writableCorked === 0 && conn.socket.writableLength > MAX_UNSENT_BYTES) dropSlowReader(conn);
  }

  function dropSlowReader(conn: EdgeConnection): void {
    logger.warn({ remote: remoteOf(conn.socket) }, 'client is not reading; dropping it');
    // Closed from here on: nothing more it sent is handled; the `close` event ends the session.
    conn.phase = 'closed';
    helloTracker.delete(conn);
    liveTracker.delete(conn);
    conn.socket.destroy();
  }

  function closeWithError(conn: EdgeConnection, code: ErrorCode, message: string): void {
    if (conn.phase === 'closed') return;
    metrics.protocolErrors.inc({ code });
    if (logger.isLevelEnabled('info')) logger.info({ code, remote: remoteOf(conn.socket), clientId: conn.session?.clientId }, 'protocol error; closing');
    endSession(conn, 'closed');
    conn.socket.write(errorFrame(code, message));
    finish(conn);
  }

  /** Half-closes after what was written, and destroys the socket if the peer lingers. */
  function finish(conn: EdgeConnection): void {
    conn.phase = 'closed';
    conn.held = null;
    helloTracker.delete(conn);
    liveTracker.delete(conn);
    conn.socket.resume();
    conn.socket.end();
    setTimeout(() => conn.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  function scan(): void {
    const now = performance.now();
    for (const conn of helloTracker.expire(now)) {
      closeWithError(conn, 'hello_timeout', `no HELLO within ${options.helloTimeoutMs} ms`);
    }
    if (!options.heartbeatCheck) return;
    for (const conn of liveTracker.expire(now)) {
      if (conn.phase !== 'live') continue;
      endSession(conn, 'timeout');
      conn.socket.write(byeFrame('timeout'));
      finish(conn);
    }
  }

  function shutdownOne(conn: EdgeConnection): void {
    if (conn.phase !== 'live') return;
    endSession(conn, 'shutdown');
    conn.socket.write(byeFrame('shutdown'));
    finish(conn);
  }

  /** Sends `BYE shutdown` to every live session, evenly spread over the drain window. */
  async function drainSessions(): Promise<void> {
    const live = [...connections].filter((conn) => conn.phase === 'live');
    const ticks = Math.max(1, Math.floor(options.drainWindowMs / DRAIN_TICK_MS));
    const perTick = Math.ceil(live.length / ticks);
    for (let i = 0; i < live.length; i += perTick) {
      for (const conn of live.slice(i, i + perTick)) shutdownOne(conn);
      if (i + perTick < live.length) await new Promise((resolve) => setTimeout(resolve, DRAIN_TICK_MS));
    }
    // Sessions that started during the window (connections accepted just before closing).
    for (const conn of connections) shutdownOne(conn);
  }

  return {
    get sessionCount() {
      return sessions.size;
    },
    get connectionCount() {
      return connections.size;
    },

    redisReady() {
      writer.kick();
    },

    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const scanMs = Math.max(10, Math.min(100, Math.floor(Math.min(options.helloTimeoutMs, options.heartbeatTimeoutMs) / 20)));
      scanTimer = setInterval(scan, scanMs);
      writer.start();
      return server.address() as AddressInfo;
    },

    async close() {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of connections) if (conn.phase === 'hello' || conn.phase === 'authenticating') conn.socket.destroy();
      logger.info({ sessions: sessions.size, windowMs: options.drainWindowMs }, 'draining');
      await drainSessions();
      if (scanTimer !== null) clearInterval(scanTimer);
      const left = await writer.drain(options.drainTimeoutMs);
      writer.stop();
      if (left > 0) logger.warn({ left }, 'Redis did not confirm every session end before shutdown');
      await store.removeNode(options.node).catch(() => {});
      for (const conn of connections) conn.socket.destroy();
      await stopped;
      logger.info({}, 'edge node stopped');
    },
  };
}

/** `address:port` of the peer, for logs only (undefined parts once the socket is gone). */
function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}
