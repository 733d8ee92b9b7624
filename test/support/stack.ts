import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { testPrefix, testRedisMode, testRedisUrl } from './test-store.js';
import { waitFor } from './wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOG_DIR = `${ROOT}.test-logs`;

/** Short intervals so that end-to-end tests run in seconds; every bound a test checks derives from these. */
export const FAST_TIMING = {
  HEARTBEAT_INTERVAL_MS: '250',
  HEARTBEAT_TIMEOUT_MS: '1500',
  HELLO_TIMEOUT_MS: '1000',
  SESSION_REFRESH_MS: '200',
  SESSION_TTL_MS: '1000',
  SWEEP_INTERVAL_MS: '200',
  EVENTS_POLL_MS: '200',
  // Off unless a test is about them: most tests check that an event comes promptly.
  OFFLINE_GRACE_MS: '0',
  DRAIN_WINDOW_MS: '200',
} as const;

export type ServiceName = 'edge' | 'sweeper' | 'api';

/** Node flags a service runs with in production: `nodeFlags` of its package.json (docker-compose.yml uses the same). */
export function nodeFlags(service: ServiceName): string[] {
  const pkg = JSON.parse(readFileSync(`${ROOT}services/${service}/package.json`, 'utf8')) as { nodeFlags?: string[] };
  return pkg.nodeFlags ?? [];
}

/** One service started as its own OS process from the build, logging to .test-logs/<prefix>/. */
export class ServiceProcess {
  readonly name: string;
  readonly service: ServiceName;
  readonly env: Record<string, string>;
  readonly logFile: string;
  private child: ChildProcess | null = null;
  private exitPromise: Promise<number | null> | null = null;

  constructor(service: ServiceName, name: string, env: Record<string, string>, logFile: string) {
    this.service = service;
    this.name = name;
    this.env = env;
    this.logFile = logFile;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const entry = `${ROOT}services/${this.service}/dist/main.js`;
    const fd = openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [...nodeFlags(this.service), entry], {
      env: { PATH: process.env.PATH ?? '', ...this.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.child = child;
    this.exitPromise = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Sends a signal and waits for the process to exit; returns its exit code (null if killed). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    const child = this.child;
    if (child === null || this.exitPromise === null) return null;
    if (!this.running) return this.exitPromise;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const code = await this.exitPromise;
    clearTimeout(timer);
    return code;
  }

  exited(): Promise<number | null> {
    return this.exitPromise ?? Promise.resolve(null);
  }
}

export interface EdgeProcess extends ServiceProcess {
  port: number;
}

export interface StackOptions {
  redisUrl: string;
  /** Defaults to the suite's mode for the shared test Redis, standalone for a Redis of the test's own. */
  redisMode?: 'standalone' | 'cluster';
  edges?: number;
  sweepers?: number;
  api?: boolean;
  shards?: number;
  env?: Record<string, string>;
}

/**
 * The production topology as processes: N edge nodes, M sweepers and one API against one Redis,
 * each with its own ports, all under one key prefix of the test's own.
 */
export class Stack {
  readonly prefix: string;
  readonly edges: EdgeProcess[] = [];
  readonly sweepers: ServiceProcess[] = [];
  api: (ServiceProcess & { url: string }) | null = null;
  readonly baseEnv: Record<string, string>;
  private readonly logDir: string;

  private constructor(options: StackOptions) {
    this.prefix = testPrefix();
    this.logDir = `${LOG_DIR}/${this.prefix}`;
    mkdirSync(this.logDir, { recursive: true });
    this.baseEnv = {
      REDIS_URL: options.redisUrl,
      REDIS_MODE: options.redisMode ?? (options.redisUrl === testRedisUrl() ? testRedisMode() : 'standalone'),
      KEY_PREFIX: this.prefix,
      SHARD_COUNT: String(options.shards ?? 4),
      LOG_LEVEL: 'info',
      EDGE_HOST: '127.0.0.1',
      API_HOST: '127.0.0.1',
      SWEEPER_HOST: '127.0.0.1',
      ...FAST_TIMING,
      ...options.env,
    };
  }

  static async start(options: StackOptions): Promise<Stack> {
    const stack = new Stack(options);
    const starting: Promise<unknown>[] = [];
    for (let i = 0; i < (options.edges ?? 2); i += 1) starting.push(stack.addEdge());
    for (let i = 0; i < (options.sweepers ?? 2); i += 1) starting.push(stack.addSweeper());
    if (options.api ?? true) starting.push(stack.startApi());
    await Promise.all(starting);
    return stack;
  }

  get apiUrl(): string {
    if (this.api === null) throw new Error('this stack has no API');
    return this.api.url;
  }

  private edgeCount = 0;
  private sweeperCount = 0;

  async addEdge(env: Record<string, string> = {}): Promise<EdgeProcess> {
    // Numbered before any await: edges are added concurrently.
    const index = this.edgeCount++;
    const port = await freePort();
    const name = `edge-${index}`;
    const edge = new ServiceProcess('edge', name, {
      ...this.baseEnv, EDGE_PORT: String(port), EDGE_METRICS_PORT: String(await freePort()), NODE_ID: name, ...env,
    }, `${this.logDir}/${name}.log`) as EdgeProcess;
    edge.port = port;
    this.edges[index] = edge;
    await this.startEdge(edge);
    return edge;
  }

  /** (Re)starts an edge process and waits until it accepts connections. */
  async startEdge(edge: EdgeProcess): Promise<void> {
    edge.start();
    await waitFor(() => canConnect(edge.port), { timeoutMs: 20_000, what: `${edge.name} to accept connections` });
  }

  async addSweeper(): Promise<ServiceProcess> {
    const name = `sweeper-${this.sweeperCount++}`;
    const sweeper = new ServiceProcess('sweeper', name, {
      ...this.baseEnv, SWEEPER_METRICS_PORT: String(await freePort()), NODE_ID: name,
    }, `${this.logDir}/${name}.log`);
    this.sweepers.push(sweeper);
    sweeper.start();
    await waitFor(() => sweeper.log().includes('sweeper started'), { timeoutMs: 20_000, what: `${name} to start` });
    return sweeper;
  }

  async startApi(): Promise<void> {
    if (this.api === null) {
      const port = await freePort();
      const api = new ServiceProcess('api', 'api', { ...this.baseEnv, API_PORT: String(port) }, `${this.logDir}/api.log`);
      this.api = Object.assign(api, { url: `http://127.0.0.1:${port}` });
    }
    this.api.start();
    const url = this.api.url;
    await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 20_000, what: 'api to be ready' });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.edges, ...this.sweepers, ...(this.api ? [this.api] : [])].map((p) => p.stop('SIGTERM')));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
