import WebSocket from 'ws';

/** How a WebSocket ended: the close frame's code and reason (1006 when the connection dropped without one). */
export interface WsClosed {
  code: number;
  reason: string;
}

/**
 * A raw WebSocket client of the edge for tests (the `ws` package): sends frames as text messages,
 * reads the server's messages, and tells how the connection closed. Deliberately not the SDK: the
 * end-to-end tests check the WebSocket binding as docs/protocol.md states it.
 */
export class WsClient {
  readonly ws: WebSocket;
  readonly messages: string[] = [];
  private read = 0;
  private waiters: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  readonly closed: Promise<WsClosed>;
  ended = false;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      this.messages.push(data.toString('utf8'));
      this.wake();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => {
        this.ended = true;
        this.stopHeartbeat();
        this.wake();
        resolve({ code, reason: reason.toString('utf8') });
      }),
    );
  }

  static url(port: number, query = ''): string {
    return `ws://127.0.0.1:${port}/v1/ws${query}`;
  }

  /** Opens a WebSocket; rejects with the HTTP status when the upgrade is refused (`unexpected-response`). */
  static connect(url: string, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        reject(new UpgradeRefused(res.statusCode ?? 0));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  /** Connects, says HELLO and waits for WELCOME; PINGs every `heartbeatMs` unless 0. */
  static async session(port: number, clientId: string, heartbeatMs = 250): Promise<{ client: WsClient; sessionId: string }> {
    const client = await WsClient.connect(WsClient.url(port));
    client.send(`HELLO ${clientId}`);
    const welcome = await client.next();
    const match = /^WELCOME (\S+) (\d+) (\d+)$/.exec(welcome);
    if (match === null) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`);
    if (heartbeatMs > 0) client.startHeartbeat(heartbeatMs);
    return { client, sessionId: match[1] as string };
  }

  send(frame: string | Buffer, binary = false): void {
    this.ws.send(frame, { binary });
  }

  /** The next message not read yet; rejects if none arrives within `timeoutMs` or the connection closes first. */
  async next(timeoutMs = 3_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.messages[this.read];
      if (message !== undefined) {
        this.read += 1;
        return message;
      }
      if (this.ended) throw new Error(`connection closed; messages: ${JSON.stringify(this.messages)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms; messages: ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  startHeartbeat(everyMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send('PING');
    }, everyMs);
  }

  stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** Sends BYE (the session ends as `leave`) and waits for the close. */
  async bye(): Promise<WsClosed> {
    this.stopHeartbeat();
    this.send('BYE');
    return this.closed;
  }

  destroy(): void {
    this.stopHeartbeat();
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

export class UpgradeRefused extends Error {
  readonly status: number;

  constructor(status: number) {
    super(`the upgrade was refused with HTTP ${status}`);
    this.status = status;
  }
}
