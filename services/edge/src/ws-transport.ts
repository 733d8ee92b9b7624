/**
 * The WebSocket adapter over the session core (docs/protocol.md, "WebSocket binding"): an HTTP server
 * whose upgrades on `/v1/ws` become connections, through the `ws` package. It owns what is
 * WebSocket's alone: the path and Origin checks before the upgrade (404/403, no session), the token
 * of `?token=`, one frame per text message, the ERR of a binary, oversized or non-UTF-8 message,
 * the close code that goes with every farewell, and counting the client's WebSocket pings as
 * traffic. Everything a frame means is the core's (session-core.ts), as over TCP.
 *
 * Like the TCP adapter, nothing is allocated per connection but the transport: it is the `ws`
 * WebSocket itself (WebSocketServer's `WebSocket` option), and its handlers are shared.
 */
import { isUtf8 } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MAX_FRAME_BYTES, PONG_FRAME, type ErrorCode } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import { WebSocket, WebSocketServer } from 'ws';
import { CLOSE_GRACE_MS, type Connection, type Transport } from './connection.js';
import { originAllowed, type OriginPolicy } from './origin-policy.js';
import { reopenableListener } from './reopenable-listener.js';
import type { Accept, TcpListener } from './tcp-transport.js';

/** The one path the edge upgrades. */
export const WS_PATH = '/v1/ws';
/**
 * Messages up to this size are read and answered `ERR frame_too_large` (close 1009); a larger one is
 * refused by `ws` from its header alone, before it is buffered (close 1009, no ERR).
 */
export const WS_MAX_PAYLOAD_BYTES = 64 * 1024;

export interface WsListenerOptions {
  host: string;
  port: number;
  origins: OriginPolicy;
  /** permessage-deflate: off unless asked for (it costs memory on every connection). */
  compression: boolean;
  /** The upgrade request must be complete this long after the connection opened (HELLO_TIMEOUT_MS, as HELLO over TCP). */
  handshakeTimeoutMs: number;
}

/** Listens, pauses and resumes like the TCP listener, so the edge server drives both alike. */
export type WsListener = TcpListener;

/**
 * The close code that goes with each farewell (docs/protocol.md). A client acts on the ERR or BYE
 * frame; the code is for what sits between (proxies, browser devtools, generic WebSocket tooling).
 */
const BYE_CLOSE_CODES: Record<string, number> = { timeout: 1000, shutdown: 1001, moved: 1001 };
const ERR_CLOSE_CODES: Partial<Record<ErrorCode, number>> = { frame_too_large: 1009, server_busy: 1013, internal_error: 1011 };
/** Any other ERR: the client broke a rule of the protocol. */
const POLICY_VIOLATION = 1008;
const NORMAL_CLOSURE = 1000;

const TRANSPORT = Symbol('edge-ws-transport');
type SocketWithTransport = Socket & { [TRANSPORT]?: WsTransport };

const TEXT = { binary: false } as const;
const PONG = PONG_FRAME.subarray(0, PONG_FRAME.length - 1);
const EMPTY = Buffer.alloc(0);
const LF = 0x0a;
const CR = 0x0d;

/** One WebSocket, and the transport of its connection (it extends `ws`'s class: no object more per connection). */
class WsTransport extends WebSocket implements Transport {
  connection: Connection | null = null;
  /** The upgraded socket, for the peer's address. */
  socket: Socket | null = null;
  /** `?token=` of the upgrade URL, used when HELLO carries none. */
  token: string | null = null;
  /** The close frame that ends this connection gracefully, set with its farewell. */
  closeCode = NORMAL_CLOSURE;
  closeReason = '';

  /** Frames go out one per text message, without their newline. */
  write(frame: string | Buffer): void {
    if (this.readyState !== WebSocket.OPEN) return;
    if (typeof frame !== 'string') {
      this.send(frame === PONG_FRAME ? PONG : frame.subarray(0, frame[frame.length - 1] === LF ? -1 : frame.length), TEXT);
      return;
    }
    const text = frame.endsWith('\n') ? frame.slice(0, -1) : frame;
    // A farewell (the last frame before a graceful close) decides the close code, unless the adapter did.
    if (this.closeReason === '' && (text.startsWith('ERR ') || text.startsWith('BYE '))) this.closeWith(text);
    this.send(text, TEXT);
  }

  private closeWith(farewell: string): void {
    const word = farewell.slice(4, farewell.indexOf(' ', 4) === -1 ? undefined : farewell.indexOf(' ', 4));
    this.closeReason = word;
    this.closeCode = farewell.startsWith('BYE ')
      ? (BYE_CLOSE_CODES[word] ?? NORMAL_CLOSURE)
      : (ERR_CLOSE_CODES[word as ErrorCode] ?? POLICY_VIOLATION);
  }

  /** Refuses a message the core never sees (binary, not UTF-8), with a close code of its own. */
  refuseMessage(closeCode: number, code: ErrorCode, message: string): void {
    this.closeCode = closeCode;
    this.closeReason = code;
    this.connection?.refuse(code, message);
  }

  /** Our close frame after what was written; a peer that does not answer it is cut off after CLOSE_GRACE_MS. */
  end(): void {
    if (this.readyState === WebSocket.OPEN) this.close(this.closeCode, this.closeReason);
    if (this.readyState !== WebSocket.CLOSED) setTimeout(terminateSocket, CLOSE_GRACE_MS, this).unref();
  }

  destroy(): void {
    this.terminate();
  }

  /** While corked (corkOnData), writes are judged after the uncork hands them to the kernel. */
  get unsentBytes(): number {
    const socket = this.socket;
    return socket !== null && socket.writableCorked > 0 ? 0 : this.bufferedAmount;
  }

  address(): string {
    return this.socket?.remoteAddress ?? 'unknown';
  }

  remote(): string {
    return `${this.socket?.remoteAddress}:${this.socket?.remotePort}`;
  }
}

export function createWsListener(accept: Accept, options: WsListenerOptions, logger: Logger): WsListener {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: WS_MAX_PAYLOAD_BYTES,
    perMessageDeflate: options.compression,
    // Checked per message instead (isUtf8), so that the client is told why: ERR bad_frame, close 1007.
    skipUTF8Validation: true,
    WebSocket: WsTransport,
  });
  // A request that trickles its headers is cut off like a TCP client that never says HELLO; Node checks
  // these deadlines every connectionsCheckingInterval.
  const server: Server = createServer(
    {
      headersTimeout: options.handshakeTimeoutMs,
      requestTimeout: options.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(options.handshakeTimeoutMs / 4))),
    },
    notAnUpgrade,
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // req.url is never logged: its query may hold a token.
    const url = req.url ?? '';
    const query = url.indexOf('?');
    if ((query === -1 ? url : url.slice(0, query)) !== WS_PATH) {
      refuseUpgrade(socket, 404, `the WebSocket endpoint is ${WS_PATH}`);
      return;
    }
    if (!originAllowed(options.origins, req.headers.origin, req.headers.host)) {
      if (logger.isLevelEnabled('info')) logger.info({ origin: req.headers.origin, remote: remoteOf(socket) }, 'WebSocket origin refused');
      refuseUpgrade(socket, 403, 'this origin may not connect (ALLOWED_ORIGINS)');
      return;
    }
    const token = query === -1 ? null : new URLSearchParams(url.slice(query + 1)).get('token');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = ws;
      transport.socket = socket as Socket;
      (socket as SocketWithTransport)[TRANSPORT] = transport;
      // Before ws's own handler: the answers to one read's messages leave in one writev.
      socket.prependListener('data', corkOnData);
      if (token !== null && token !== '') transport.token = token;
      transport.on('error', onError);
      transport.on('close', onClose);
      const conn = accept(transport);
      if (conn === null) return;
      transport.connection = conn;
      if (!conn.open) return;
      transport.on('message', onMessage);
      transport.on('ping', onTraffic);
      transport.on('pong', onTraffic);
    });
  });
  server.on('clientError', (err: Error, socket: Duplex) => {
    // Its code only: Node attaches the raw bytes of the request (`rawPacket`), which may hold a token.
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ code: (err as { code?: string }).code, remote: remoteOf(socket) }, 'bad HTTP request on the WebSocket port');
    }
    socket.destroy();
  });
  server.on('error', (err) => logger.error({ err }, 'edge WebSocket server error'));

  function onError(this: WebSocket, err: Error): void {
    // A protocol violation `ws` catches itself (a message over maxPayload, a bad frame): it has sent
    // its close frame already; `close` follows and closes the connection.
    if (logger.isLevelEnabled('debug')) logger.debug({ err, remote: (this as WsTransport).remote() }, 'WebSocket error');
  }

  return {
    ...reopenableListener(server, options.port, options.host),
    close() {
      return new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else server.close(() => resolve());
      });
    },
  };
}

function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  const transport = this as WsTransport;
  const conn = transport.connection;
  if (conn === null || !conn.open) return;
  if (isBinary) {
    transport.refuseMessage(1003, 'bad_frame', 'binary messages are not accepted: send each frame as a text message');
    return;
  }
  let end = data.length;
  if (end > 0 && data[end - 1] === LF) end -= 1;
  if (end > 0 && data[end - 1] === CR) end -= 1;
  // The frame as over TCP: with its newline, at most MAX_FRAME_BYTES.
  if (end + 1 > MAX_FRAME_BYTES) {
    conn.refuse('frame_too_large', `a frame may be at most ${MAX_FRAME_BYTES} bytes including its newline`);
    return;
  }
  if (!isUtf8(data)) {
    transport.refuseMessage(1007, 'bad_frame', 'frame is not valid UTF-8');
    return;
  }
  conn.receive(end === data.length ? data : data.subarray(0, end));
}

/** A WebSocket ping (or unasked pong) is traffic, as an empty frame is: it renews the session. */
function onTraffic(this: WebSocket): void {
  const conn = (this as WsTransport).connection;
  if (conn !== null && conn.open) conn.receive(EMPTY);
}

function onClose(this: WebSocket): void {
  (this as WsTransport).connection?.close('transport_closed');
}

/**
 * Corks the socket for the messages of one read (ws parses them synchronously), uncorks once they are
 * handled: their PONGs leave in one writev, not one write syscall each, as over TCP. A client that
 * floods messages then costs the node one syscall per read, not per message, and cannot starve it.
 */
function corkOnData(this: SocketWithTransport): void {
  if (this.writableCorked > 0) return;
  this.cork();
  process.nextTick(uncorkSocket, this);
}

function uncorkSocket(socket: SocketWithTransport): void {
  socket.uncork();
  socket[TRANSPORT]?.connection?.checkBacklog();
}

function terminateSocket(ws: WsTransport): void {
  ws.terminate();
}

/** A plain HTTP request on the WebSocket port. */
function notAnUpgrade(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
  res.end(`this port speaks WebSocket: open ws://<host>:<port>${WS_PATH}\n`);
}

/** Answers an upgrade with an HTTP error and closes, before any WebSocket or session exists. */
function refuseUpgrade(socket: Duplex, status: 403 | 404, message: string): void {
  const reason = status === 403 ? 'Forbidden' : 'Not Found';
  const body = `${message}\n`;
  socket.on('error', () => {});
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function remoteOf(socket: Duplex): string {
  const s = socket as Socket;
  return `${s.remoteAddress}:${s.remotePort}`;
}
