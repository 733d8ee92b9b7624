import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

export interface RedisServerOptions {
  port?: number;
  /** Data directory; reuse one across restarts to keep data (with appendOnly or a SAVE). */
  dir?: string;
  appendOnly?: boolean;
  extraArgs?: string[];
}

/** A `redis-server` from PATH on a free loopback port, for tests that need one of their own. */
export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private readonly options: RedisServerOptions;
  private process: ChildProcess | null = null;

  private constructor(port: number, dir: string, options: RedisServerOptions) {
    this.port = port;
    this.dir = dir;
    this.options = options;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'presence-redis-'));
    const server = new RedisServer(port, dir, options);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.options.appendOnly ? 'yes' : 'no',
      '--appendfsync',
      'always',
      ...(this.options.extraArgs ?? []),
    ];
    this.process = spawn('redis-server', args, { stdio: 'ignore' });
    await waitFor(() => pingRedis(this.port), { timeoutMs: 10_000, what: `redis-server on port ${this.port}` });
  }

  /** Stops the server at once (SIGKILL): nothing is saved that was not already on disk. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing is answered, for every client alike. */
  freeze(): void {
    this.process?.kill('SIGSTOP');
  }

  /** Lets a frozen server run again (SIGCONT): it answers everything it was sent meanwhile. */
  thaw(): void {
    this.process?.kill('SIGCONT');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.process = null;
  }
}

/** True when a Redis on 127.0.0.1:port answers PING; never throws. */
export async function pingRedis(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
