import { describe, expect, it } from 'vitest';
import { openWsLink, wsEndpoint, type WebSocketLike } from './ws-link.js';

/** A WebSocket that records what the link does and lets the test play the server. */
class FakeWebSocket implements WebSocketLike {
  static last: FakeWebSocket | null = null;
  readyState = 0;
  readonly sent: string[] = [];
  closedWith: number | null = null;
  private readonly listeners = new Map<string, ((event: never) => void)[]>();

  constructor(readonly url: string) {
    FakeWebSocket.last = this;
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: still connecting');
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code ?? 1005;
    this.readyState = 2;
  }
  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  fire(type: string, event: unknown = {}): void {
    if (type === 'open') this.readyState = 1;
    if (type === 'close') this.readyState = 3;
    for (const listener of this.listeners.get(type) ?? []) listener(event as never);
  }
}

function open() {
  const frames: string[] = [];
  const closed: (Error | null)[] = [];
  const link = openWsLink(
    wsEndpoint('ws://edge.example:7072/v1/ws')!,
    { frame: (l) => frames.push(l), closed: (e) => closed.push(e) },
    FakeWebSocket,
  );
  return { link, ws: FakeWebSocket.last as FakeWebSocket, frames, closed };
}

describe('the WebSocket link', () => {
  it('holds frames sent while connecting (a browser would throw) and sends them in order once open, one per message', () => {
    const { link, ws } = open();
    link.send('HELLO alice');
    link.send('PING');
    expect(ws.sent).toEqual([]);
    ws.fire('open');
    link.send('PING {"a":1}');
    expect(ws.sent).toEqual(['HELLO alice', 'PING', 'PING {"a":1}']);
  });

  it('hands in each message as one frame, a trailing newline dropped', () => {
    const { ws, frames } = open();
    ws.fire('open');
    ws.fire('message', { data: 'WELCOME 0123 10000 30000' });
    ws.fire('message', { data: 'PONG\r\n' });
    expect(frames).toEqual(['WELCOME 0123 10000 30000', 'PONG']);
  });

  it('end() sends the last frame and closes with 1000, also when asked while connecting', () => {
    const { link, ws } = open();
    link.send('HELLO alice');
    link.end('BYE');
    expect(ws.closedWith).toBeNull();
    ws.fire('open');
    expect([ws.sent, ws.closedWith]).toEqual([['HELLO alice', 'BYE'], 1000]);
  });

  it('reports a clean close without an error, and any other with its code and reason, once', () => {
    const clean = open();
    clean.ws.fire('close', { code: 1000, reason: '', wasClean: true });
    clean.ws.fire('close', { code: 1000, reason: '', wasClean: true });
    expect(clean.closed).toEqual([null]);
    const refused = open();
    refused.ws.fire('close', { code: 1008, reason: 'unauthorized', wasClean: true });
    expect(refused.closed[0]?.message).toMatch(/code 1008 \(unauthorized\)/);
  });

  it('takes ws:// and wss:// URLs only', () => {
    expect(wsEndpoint('wss://presence.example.com/v1/ws')).toEqual({
      host: 'presence.example.com',
      port: 443,
      url: 'wss://presence.example.com/v1/ws',
    });
    expect(wsEndpoint('http://presence.example.com/v1/ws')).toBeNull();
    expect(wsEndpoint('not a url')).toBeNull();
  });
});
