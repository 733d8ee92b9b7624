/**
 * The TCP adapter over the session core: a `net.Server` whose sockets become connections. It owns
 * what is TCP's alone: the socket options, newline framing (FrameDecoder), one writev per read chunk
 * (cork/uncork), the fast close after a peer's FIN, and judging unsent bytes once a chunk's answers
 * are handed to the kernel. Everything a frame means is the core's (session-core.ts).
 *
 * Nothing here is allocated per connection but the transport itself, which is also the connection's
 * frame decoder: the socket's handlers are shared and find their connection through the socket.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { FrameDecoder } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import { CLOSE_GRACE_MS, type Connection, type Transport } from './connection.js';
import { reopenableListener, type ReopenableListener } from './reopenable-listener.js';

const CONNECTION = Symbol('edge-connection');

type SocketWithConnection = Socket & { [CONNECTION]?: Connection };

/**
 * Makes a connection of a transport, applying the node's limits; null when the node accepts no more
 * connections (the transport is then destroyed).
 */
export type Accept = (transport: Transport) => Connection | null;

export interface TcpListenerOptions {
  host: string;
  port: number;
  /** Silence before the first TCP keepalive probe. */
  keepAliveInitialDelayMs: number;
}

export interface TcpListener extends ReopenableListener {
  /** Stops accepting; resolves once every socket has closed. */
  close(): Promise<void>;
}

/** One socket's transport, and its framing: it is the decoder, so a connection costs no object more. */
class TcpTransport extends FrameDecoder implements Transport {
  readonly socket: Socket;

  constructor(socket: Socket) {
    super();
    this.socket = socket;
  }

  write(frame: string | Buffer): void {
    this.socket.write(frame);
  }

  /**
   * Once the peer has closed its side (FIN), answers still unsent are flushed before our FIN (a client
   * such as `nc` may half-close and read on); otherwise the socket is closed without Node's shutdown
   * round (a shutdown syscall and two more event-loop turns), in one setImmediate for the turn's ended
   * sockets. The session's end was queued just before, so it leaves for Redis before the close
   * syscalls run: when 1000 clients leave at once, their offline events need not wait for 1000 of
   * them. While the peer is still open: our FIN after what was written, and a grace period to close.
   */
  end(): void {
    const socket = this.socket;
    if (socket.readableEnded) {
      if (socket.writableLength > 0) socket.end();
      else destroyAfterThisTurn(socket);
      return;
    }
    socket.resume();
    socket.end();
    setTimeout(destroySocket, CLOSE_GRACE_MS, socket).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** While corked (onData), writes are judged after the uncork hands them to the kernel. */
  get unsentBytes(): number {
    const socket = this.socket;
    return socket.writableCorked > 0 || socket.destroyed ? 0 : socket.writableLength;
  }

  address(): string {
    return this.socket.remoteAddress ?? 'unknown';
  }

  remote(): string {
    return remoteOf(this.socket);
  }

  /** TCP clients send their token in HELLO. */
  get token(): null {
    return null;
  }
}

export function createTcpListener(accept: Accept, options: TcpListenerOptions, logger: Logger): TcpListener {
  // allowHalfOpen: a peer's FIN is handled by onEnd (the session ends there, not turns later at `close`).
  const server: Server = createServer({
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: options.keepAliveInitialDelayMs,
    allowHalfOpen: true,
  });
  server.on('connection', (socket: SocketWithConnection) => {
    const conn = accept(new TcpTransport(socket));
    if (conn === null) return;
    socket[CONNECTION] = conn;
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (conn.open) socket.on('data', onData);
  });
  server.on('error', (err) => logger.error({ err }, 'edge server error'));

  function onError(this: SocketWithConnection, err: Error): void {
    // A reset or broken pipe: `close` follows and closes the connection.
    if (logger.isLevelEnabled('debug')) logger.debug({ err, remote: remoteOf(this) }, 'socket error');
  }

  return {
    ...reopenableListener(server, options.port, options.host),
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function onData(this: SocketWithConnection, chunk: Buffer): void {
  const conn = this[CONNECTION];
  if (conn === undefined || !conn.open) return;
  // The answers to one chunk's frames leave in one writev instead of one write syscall each.
  this.cork();
  try {
    (conn.transport as TcpTransport).push(chunk, (frame) => conn.receive(frame));
  } catch (error) {
    conn.fail(error);
  }
  this.uncork();
  conn.checkBacklog();
}

/** The peer closed its side (FIN): the session ends now, not turns later at `close`. */
function onEnd(this: SocketWithConnection): void {
  this[CONNECTION]?.close('peer_ended');
}

function onClose(this: SocketWithConnection): void {
  this[CONNECTION]?.close('transport_closed');
}

/**
 * `address:port` of the peer, for logs only (undefined parts once the socket is gone). It is read only
 * when a log line is written or the per-address limit is on: reading it makes Node keep a peer-name
 * record on the socket, about 90 bytes of every idle connection.
 */
function remoteOf(socket: Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Sockets whose peer has closed, destroyed once this turn's writes are out (TcpTransport.end). */
let endedSockets: Socket[] = [];

function destroyAfterThisTurn(socket: Socket): void {
  if (endedSockets.push(socket) === 1) setImmediate(destroyEnded);
}

function destroyEnded(): void {
  const sockets = endedSockets;
  endedSockets = [];
  for (const socket of sockets) socket.destroy();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
