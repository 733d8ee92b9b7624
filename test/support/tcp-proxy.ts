import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Bytes held while the link is cut, per direction, in order. */
  toUpstream: Buffer[];
  toClient: Buffer[];
  /** One end closed while the link was cut: the other hears of it when the link is back. */
  ended: boolean;
  /** Its client sent the marker of `holdNamed` (a connection name): its bytes are held until `releaseNamed`. */
  named: boolean;
}

/**
 * A TCP proxy for one process's link to a server (an edge's to Redis), that can cut the link the
 * way a partition does: bytes are held, not dropped and not refused. Connections stay open, writes
 * go unanswered, new connections are accepted but reach nothing; `resume` delivers everything held,
 * in order, and forwards again. A closed end closes the other.
 */
export class TcpProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly target: { host: string; port: number };
  private readonly pairs = new Set<Pair>();
  private held = false;
  private marker: string | null = null;

  private constructor(server: Server, port: number, target: { host: string; port: number }) {
    this.server = server;
    this.port = port;
    this.target = target;
  }

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port, {
      host: target.host ?? '127.0.0.1',
      port: target.port,
    });
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** True while bytes are held. */
  get cut(): boolean {
    return this.held;
  }

  /** Stops forwarding in both directions: from now on bytes are held. */
  hold(): void {
    this.held = true;
  }

  /** Delivers what was held, in order, and forwards again. */
  resume(): void {
    this.held = false;
    for (const pair of [...this.pairs]) {
      if (pair.upstream === null) this.open(pair);
      this.flush(pair);
      if (pair.ended) this.drop(pair);
    }
  }

  /**
   * Holds only the connections whose client sends `marker` (ioredis sends its connectionName first
   * thing), made now or later, as if that one link were slow to come up; the others forward.
   */
  holdNamed(marker: string): void {
    this.marker = marker;
  }

  /** Lets the connections `holdNamed` held go on: what they sent reaches the server, in order. */
  releaseNamed(): void {
    this.marker = null;
    for (const pair of this.pairs) {
      if (!pair.named) continue;
      pair.named = false;
      this.flush(pair);
    }
  }

  async close(): Promise<void> {
    this.held = false;
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const pair: Pair = { client, upstream: null, toUpstream: [], toClient: [], ended: false, named: false };
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (this.marker !== null && chunk.includes(this.marker)) pair.named = true;
      if (this.held || pair.named || pair.upstream === null || pair.upstream.connecting) pair.toUpstream.push(chunk);
      else pair.upstream.write(chunk);
    });
    const end = () => this.drop(pair);
    client.on('error', end);
    client.on('close', end);
    // A connection made while the link is cut reaches the server only when it is back.
    if (!this.held) this.open(pair);
  }

  private open(pair: Pair): void {
    const upstream = connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('connect', () => this.flush(pair));
    upstream.on('data', (chunk: Buffer) => {
      if (this.held) pair.toClient.push(chunk);
      else pair.client.write(chunk);
    });
    const end = () => this.drop(pair);
    upstream.on('error', end);
    upstream.on('close', end);
  }

  private flush(pair: Pair): void {
    if (this.held || pair.named) return;
    const upstream = pair.upstream;
    if (upstream !== null && !upstream.connecting) for (const chunk of pair.toUpstream.splice(0)) upstream.write(chunk);
    for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
  }

  private drop(pair: Pair): void {
    if (this.held) {
      pair.ended = true;
      return;
    }
    if (!this.pairs.delete(pair)) return;
    // Bytes for the client that were held go with the connection, as a cut link's would.
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
