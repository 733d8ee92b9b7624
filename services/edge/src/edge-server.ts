/**
 * An edge node: the listeners, the node's connection limits, the drain and the fence. Every listener
 * (TCP, WebSocket) hands its new connections to `accept`, so the same limits apply whatever carries a
 * connection, and a fenced or draining node refuses on all of them alike; what frames mean is the
 * session core's (session-core.ts), bytes are the transport's (tcp-transport.ts, ws-transport.ts), a connection's
 * state and its one close are connection.ts's, and when the node is cut off from Redis is fence.ts's.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '@presence/telemetry';
import type { EdgeChannelStore } from './channel-ops.js';
import type { Transport } from './connection.js';
import type { EdgeStore } from './edge-store.js';
import type { EdgeMetrics } from './metrics.js';
import { Fence } from './fence.js';
import type { Witness } from './redis-witness.js';
import { CUT_OFF_MESSAGE, SessionCore, type SessionCoreOptions } from './session-core.js';
import { createTcpListener } from './tcp-transport.js';
import type { TokenVerifier } from './token-verifier.js';
import type { OriginPolicy } from './origin-policy.js';
import { createWsListener } from './ws-transport.js';

export interface EdgeServerOptions extends SessionCoreOptions {
  host: string;
  port: number;
  /** The WebSocket listener's port; 0: none. */
  wsPort: number;
  /** Which web pages may open a WebSocket (ALLOWED_ORIGINS). */
  origins: OriginPolicy;
  /** permessage-deflate on the WebSocket port. */
  wsCompression: boolean;
  maxConnections: number;
  /** 0: no per-address limit (behind a TCP load balancer every client shares its address). */
  maxConnectionsPerAddress: number;
  /** Writes unanswered this long make the node ask the witness whether it alone is cut off (fence.ts). */
  fenceAfterMs: number;
}

export interface EdgeServerDeps {
  store: EdgeStore;
  /** Channel presence on its own Redis connection; null or absent: channel requests are refused. */
  channels?: EdgeChannelStore | null;
  logger: Logger;
  metrics: EdgeMetrics;
  options: EdgeServerOptions;
  /** Checks HELLO tokens; null when AUTH_MODE=none. */
  verifyToken: TokenVerifier | null;
  /** Tells a partition of this node from a Redis outage (REDIS_WITNESS_URL); null: the node never fences. */
  witness: Witness | null;
  /** PINGs Redis on a connection other than the writes': true when answered within `timeoutMs` (fence.ts). */
  probeRedis(timeoutMs: number): Promise<boolean>;
}

export interface EdgeServer {
  /** Starts the TCP listener and the node. */
  listen(): Promise<AddressInfo>;
  /** Starts the WebSocket listener (after `listen`); null when `wsPort` is 0. */
  listenWebSocket(): Promise<AddressInfo | null>;
  /** Stops accepting, ends every session with `BYE shutdown` over the drain window, writes the ends to Redis, closes. */
  close(): Promise<void>;
  /** Redis is reachable again: renew deadlines and retry pending writes now. */
  redisReady(): void;
  /** Why the node takes no clients now (draining, fenced), or null; `/readyz` says it. */
  notReady(): string | null;
  readonly sessionCount: number;
  readonly connectionCount: number;
}

export function createEdgeServer(deps: EdgeServerDeps): EdgeServer {
  const { logger, options } = deps;
  const core = new SessionCore(deps);
  const tcp = createTcpListener(
    accept,
    { host: options.host, port: options.port, keepAliveInitialDelayMs: options.heartbeatTimeoutMs },
    logger,
  );
  const ws =
    options.wsPort > 0
      ? createWsListener(
          accept,
          {
            host: options.host,
            port: options.wsPort,
            origins: options.origins,
            compression: options.wsCompression,
            handshakeTimeoutMs: options.helloTimeoutMs,
          },
          logger,
        )
      : null;
  const listeners = ws === null ? [tcp] : [tcp, ws];
  let closing = false;
  const fence = new Fence({
    witness: deps.witness,
    link: () => core.redisLink(),
    probe: (timeoutMs) => deps.probeRedis(timeoutMs),
    stopAccepting: () => {
      for (const listener of listeners) listener.pause();
    },
    resumeAccepting: async () => {
      await Promise.all(listeners.map((listener) => listener.resume()));
    },
    moveSessions: (windowMs) => core.moveSessions(windowMs),
    logger,
    metrics: deps.metrics,
    options: { fenceAfterMs: options.fenceAfterMs, sessionTtlMs: options.sessionTtlMs, maxMoveWindowMs: options.drainWindowMs },
  });

  function accept(transport: Transport) {
    if (closing) {
      transport.destroy();
      return null;
    }
    // Read only where the limit needs it: the peer's address costs memory on every idle connection.
    const address = options.maxConnectionsPerAddress > 0 ? transport.address() : null;
    const conn = core.connect(transport, address);
    if (fence.fenced) {
      // Accepted just as the listeners stopped (or by a listener that can't stop): send it elsewhere.
      conn.refuse('server_busy', CUT_OFF_MESSAGE);
    } else if (core.connectionCount > options.maxConnections) {
      conn.refuse('server_busy', 'this node is full; try again later or another node');
    } else if (address !== null && core.connectionsFrom(address) > options.maxConnectionsPerAddress) {
      conn.refuse('too_many_connections', `at most ${options.maxConnectionsPerAddress} connections per address`);
    }
    return conn;
  }

  return {
    get sessionCount() {
      return core.sessionCount;
    },
    get connectionCount() {
      return core.connectionCount;
    },
    redisReady: () => core.redisReady(),
    notReady: () => (closing ? 'draining: this node is shutting down' : fence.notReady()),
    async listen() {
      const address = await tcp.listen();
      core.start();
      fence.start();
      return address;
    },
    async listenWebSocket() {
      return ws === null ? null : ws.listen();
    },
    async close() {
      if (closing) return;
      closing = true;
      fence.stop();
      const stopped = Promise.all(listeners.map((listener) => listener.close()));
      await core.stop();
      await stopped;
      logger.info({}, 'edge node stopped');
    },
  };
}
