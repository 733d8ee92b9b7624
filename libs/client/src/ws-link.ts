import type { Endpoint, Link, LinkHandlers } from './link.js';

/** The part of the WHATWG WebSocket API the client uses: browsers, Node ≥ 22 and the `ws` package all have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string; wasClean: boolean }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
const CLOSED = 3;

/**
 * The WebSocket binding (docs/protocol.md): one frame per text message. Frames sent before the
 * socket is open are queued (a browser WebSocket refuses to send while connecting).
 */
export function openWsLink(endpoint: Endpoint, handlers: LinkHandlers, WebSocketImpl: WebSocketConstructor): Link {
  const url = endpoint.url ?? `ws://${endpoint.host}:${endpoint.port}/v1/ws`;
  const ws = new WebSocketImpl(url);
  let queued: string[] | null = [];
  let ending: string | null = null;
  let done = false;
  ws.addEventListener('open', () => {
    const frames = queued ?? [];
    queued = null;
    for (const frame of frames) ws.send(frame);
    if (ending !== null) closeAfter(ending);
  });
  ws.addEventListener('message', (event) => {
    if (done) return;
    if (typeof event.data !== 'string') {
      handlers.frame('');
      return;
    }
    handlers.frame(event.data.endsWith('\n') ? event.data.replace(/\r?\n$/, '') : event.data);
  });
  ws.addEventListener('error', () => {
    // The close event follows with its code; browsers give no more detail than that.
  });
  ws.addEventListener('close', (event) => {
    if (done) return;
    done = true;
    const clean = event.wasClean && (event.code === 1000 || event.code === 1001);
    handlers.closed(
      clean ? null : new Error(`WebSocket to ${url} closed with code ${event.code}${event.reason ? ` (${event.reason})` : ''}`),
    );
  });
  const closeAfter = (lastFrame: string) => {
    ws.send(lastFrame);
    ws.close(1000);
  };
  return {
    send: (frame) => {
      if (queued !== null) queued.push(frame);
      else if (ws.readyState === OPEN) ws.send(frame);
    },
    end: (lastFrame) => {
      if (queued !== null) ending = lastFrame;
      else if (ws.readyState === OPEN) closeAfter(lastFrame);
    },
    destroy: () => {
      done = true;
      queued = null;
      if (ws.readyState !== CLOSED) ws.close();
    },
  };
}

/** The endpoint of a WebSocket URL, checked: `ws://` or `wss://` only. */
export function wsEndpoint(url: string): Endpoint | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return null;
  const port = parsed.port === '' ? (parsed.protocol === 'wss:' ? 443 : 80) : Number(parsed.port);
  return { host: parsed.hostname, port, url: parsed.href };
}
