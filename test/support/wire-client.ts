import { connect, type Socket } from 'node:net';

/**
 * A raw wire-protocol client for tests: writes frames, reads lines, and optionally heartbeats.
 * It is deliberately not the SDK: end-to-end tests check the protocol as docs/protocol.md states it.
 */
export class WireClient {
  readonly socket: Socket;
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  readonly closed: Promise<void>;
  ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline = this.buffer.indexOf('\n');
      while (newline !== -1) {
        this.lines.push(this.buffer.slice(0, newline));
        this.buffer = this.buffer.slice(newline + 1);
        newline = this.buffer.indexOf('\n');
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.stopHeartbeat();
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<WireClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new WireClient(socket);
  }

  /** Connects, says HELLO and waits for WELCOME; heartbeats every `heartbeatMs` unless 0. */
  static async session(port: number, clientId: string, heartbeatMs = 250): Promise<{ client: WireClient; sessionId: string }> {
    const client = await WireClient.connect(port);
    client.send(`HELLO ${clientId}`);
    const welcome = await client.nextLine();
    const match = /^WELCOME (\S+) (\d+) (\d+)$/.exec(welcome);
    if (match === null) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`);
    if (heartbeatMs > 0) client.startHeartbeat(heartbeatMs);
    return { client, sessionId: match[1] as string };
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  send(frame: string): void {
    this.socket.write(`${frame}\n`);
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  startHeartbeat(intervalMs: number): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (!this.ended) this.send('PING');
    }, intervalMs);
  }

  stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** The next line that is not a PONG, or rejects after the timeout / when the socket closes. */
  async nextLine(timeoutMs = 5_000, skipPongs = true): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.lines.length > 0) {
        const line = this.lines.shift() as string;
        if (!(skipPongs && line === 'PONG')) return line;
      }
      if (this.ended) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Says BYE and waits for the server to close. */
  async bye(): Promise<void> {
    this.stopHeartbeat();
    this.send('BYE');
    await this.closed;
  }

  /** Drops the connection without BYE. */
  destroy(): void {
    this.stopHeartbeat();
    this.socket.destroy();
  }
}
