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
import { IdleTracker } from './idle-tracker.js';
import type { EdgeMetrics } from './metrics.js';
import { SessionWriter } from './session-writer.js';

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
  /** How long a graceful close waits for Redis to confirm the sessions it ended. */
  drainTimeoutMs: number;
}

export interface EdgeServerDeps {
  store: PresenceStore;
  logger: Logger;
  metrics: EdgeMetrics;
  options: EdgeServerOptions;
}

export interface EdgeServer {
  listen(): Promise<AddressInfo>;
  /** Stops accepting, ends every session with `BYE shutdown`, writes the ends to Redis, closes. */
  close(): Promise<void>;
  readonly sessionCount: number;
  readonly connectionCount: number;
}

/** A client that does not read what it is sent is dropped past this many unsent bytes. */
const MAX_UNSENT_BYTES = 64 * 1024;
/** After `ERR` or `BYE` the peer gets this long to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 2_000;
const CONNECTION = Symbol('edge-connection');

type SocketWithConnection = Socket & { [CONNECTION]?: EdgeConnection };

export function createEdgeServer(deps: EdgeServerDeps): EdgeServer {
  const { store, logger, metrics, options } = deps;
  const connections = new Set<EdgeConnection>();
  const sessions = new Map<string, EdgeSession>();
  const helloTracker = new IdleTracker<EdgeConnection>(options.helloTimeoutMs);
  const liveTracker = new IdleTracker<EdgeConnection>(options.heartbeatTimeoutMs);
  const writer = new SessionWriter({
    store, node: options.node, sessionTtlMs: options.sessionTtlMs, refreshMs: options.sessionRefreshMs,
    startedAt: Date.now(), logger, metrics, sessions,
  });
  let closing = false;
  let scanTimer: NodeJS.Timeout | null = null;

  const server: Server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: options.heartbeatTimeoutMs });
  server.on('connection', accept);
  server.on('error', (err) => logger.error({ err }, 'edge server error'));

  function accept(socket: Socket): void {
    if (closing) {
      socket.destroy();
      return;
    }
    const conn: EdgeConnection = {
      socket, decoder: new FrameDecoder(), phase: 'hello', remote: `${socket.remoteAddress}:${socket.remotePort}`,
      session: null, lastActivity: 0, trackedAt: 0,
    };
    (socket as SocketWithConnection)[CONNECTION] = conn;
    connections.add(conn);
    metrics.connections.inc();
    helloTracker.add(conn, performance.now());
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
  }

  function onData(this: SocketWithConnection, chunk: Buffer): void {
    const conn = this[CONNECTION];
    if (conn === undefined || conn.phase === 'closed') return;
    try {
      conn.decoder.push(chunk, (frame) => handleFrame(conn, frame));
    } catch (error) {
      if (error instanceof ProtocolError) closeWithError(conn, error.code, error.message);
      else {
        logger.error({ err: error, remote: conn.remote }, 'unexpected error handling a frame');
        closeWithError(conn, 'bad_frame', 'internal error');
      }
    }
  }

  function onClose(this: SocketWithConnection): void {
    const conn = this[CONNECTION];
    if (conn === undefined) return;
    endSession(conn, 'closed');
    conn.phase = 'closed';
    helloTracker.delete(conn);
    liveTracker.delete(conn);
    if (connections.delete(conn)) metrics.connections.dec();
  }

  function onError(this: SocketWithConnection, err: Error): void {
    // A reset or broken pipe: `close` follows and ends the session as `closed`.
    logger.debug({ err, remote: this[CONNECTION]?.remote }, 'socket error');
  }

  /** Returns false once the connection is closing, so the decoder stops handing out frames. */
  function handleFrame(conn: EdgeConnection, frame: Buffer): boolean {
    const message = parseClientFrame(frame);
    metrics.frames.inc();
    if (conn.phase === 'hello') {
      if (message.type === 'empty') return true;
      if (message.type !== 'hello') {
        closeWithError(conn, 'hello_required', 'the first frame must be HELLO <clientId> [<token>]');
        return false;
      }
      startSession(conn, message.clientId);
      return true;
    }
    const session = conn.session;
    if (session === null || conn.phase !== 'live') return false;
    liveTracker.touch(conn, performance.now());
    switch (message.type) {
      case 'ping':
        metrics.heartbeats.inc();
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

  function startSession(conn: EdgeConnection, clientId: string): void {
    const sessionId = randomBytes(10).toString('hex');
    const session: EdgeSession = {
      sessionId, clientId, shard: store.keys.shardOf(clientId), member: sessionMember(sessionId, clientId),
      stateJson: null, stateQueued: false, registered: false, endedWith: null,
    };
    helloTracker.delete(conn);
    conn.session = session;
    conn.phase = 'live';
    if (options.heartbeatCheck) liveTracker.add(conn, performance.now());
    sessions.set(sessionId, session);
    metrics.sessions.inc();
    writer.add(session);
    send(conn, welcomeFrame(sessionId, options.heartbeatIntervalMs, options.heartbeatTimeoutMs));
    logger.info({ clientId, sessionId, remote: conn.remote }, 'session started');
  }

  /** Ends the session locally (once) and queues its removal; the first reason given wins. */
  function endSession(conn: EdgeConnection, reason: OfflineReason): void {
    const session = conn.session;
    if (session === null || session.endedWith !== null) return;
    session.endedWith = reason;
    sessions.delete(session.sessionId);
    liveTracker.delete(conn);
    metrics.sessions.dec();
    metrics.sessionsEnded.inc({ reason });
    writer.remove(session, reason);
    logger.info({ clientId: session.clientId, sessionId: session.sessionId, reason }, 'session ended');
  }

  function send(conn: EdgeConnection, frame: string | Buffer): void {
    conn.socket.write(frame);
    if (conn.socket.writableLength > MAX_UNSENT_BYTES) {
      logger.warn({ remote: conn.remote }, 'client is not reading; dropping it');
      conn.socket.destroy();
    }
  }

  function closeWithError(conn: EdgeConnection, code: ErrorCode, message: string): void {
    if (conn.phase === 'closed') return;
    metrics.protocolErrors.inc({ code });
    logger.info({ code, remote: conn.remote, clientId: conn.session?.clientId }, 'protocol error; closing');
    endSession(conn, 'closed');
    conn.socket.write(errorFrame(code, message));
    finish(conn);
  }

  /** Half-closes after what was written, and destroys the socket if the peer lingers. */
  function finish(conn: EdgeConnection): void {
    conn.phase = 'closed';
    helloTracker.delete(conn);
    liveTracker.delete(conn);
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

  return {
    get sessionCount() {
      return sessions.size;
    },
    get connectionCount() {
      return connections.size;
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
      if (scanTimer !== null) clearInterval(scanTimer);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of connections) {
        if (conn.phase === 'live') {
          endSession(conn, 'shutdown');
          conn.socket.write(byeFrame('shutdown'));
          finish(conn);
        } else if (conn.phase === 'hello') {
          conn.socket.destroy();
        }
      }
      const left = await writer.drain(options.drainTimeoutMs);
      writer.stop();
      if (left > 0) logger.warn({ left }, 'Redis did not confirm every session end before shutdown');
      await store.removeNode(options.node).catch(() => {});
      for (const conn of connections) conn.socket.destroy();
      await stopped;
      logger.info({ sessionsLeft: sessions.size }, 'edge node stopped');
    },
  };
}
