import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { KeySpace, createRedisConnection } from '@presence/presence-store';
import type { Cluster, Redis } from 'ioredis';
import { registerApiOrigin } from './contract-recorder.js';
import { freePort, freePorts } from './free-port.js';
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

export type ServiceName = 'edge' | 'sweeper' | 'api' | 'webhooks';

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
    // Its answers are checked against the OpenAPI document (contract-recorder.ts).
    if (this.service === 'api' && this.env.API_PORT !== undefined) registerApiOrigin(`http://127.0.0.1:${this.env.API_PORT}`);
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
  /** EDGE_WS_PORT: WebSocket clients connect to ws://127.0.0.1:<wsPort>/v1/ws. */
  wsPort: number;
}

export interface StackOptions {
  redisUrl: string;
  /** Defaults to the suite's mode for the shared test Redis, standalone for a Redis of the test's own. */
  redisMode?: 'standalone' | 'cluster' | 'sentinel';
  edges?: number;
  sweepers?: number;
  api?: boolean;
  /** Webhooks workers (none unless asked for). */
  webhooks?: number;
  shards?: number;
  env?: Record<string, string>;
}

/** A webhooks worker process with its metrics port. */
export interface WebhooksProcess extends ServiceProcess {
  metricsPort: number;
}

/**
 * The production topology as processes: N edge nodes, M sweepers, one API and K webhooks workers
 * against one Redis, each with its own ports, all under one key prefix of the test's own.
 */
export class Stack {
  readonly prefix: string;
  readonly edges: EdgeProcess[] = [];
  readonly sweepers: ServiceProcess[] = [];
  readonly webhooks: WebhooksProcess[] = [];
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
    for (let i = 0; i < (options.webhooks ?? 0); i += 1) starting.push(stack.addWebhooks());
    await Promise.all(starting);
    return stack;
  }

  /** The stack's keys: its prefix and shard count. */
  get keys(): KeySpace {
    return new KeySpace(this.prefix, Number(this.baseEnv.SHARD_COUNT));
  }

  /** A client of the stack's Redis, in its mode (a Cluster client on a cluster); the caller disconnects it. */
  connectRedis(): Redis | Cluster {
    return createRedisConnection({ url: this.baseEnv.REDIS_URL as string, mode: this.baseEnv.REDIS_MODE as 'standalone' | 'cluster' });
  }

  get apiUrl(): string {
    if (this.api === null) throw new Error('this stack has no API');
    return this.api.url;
  }

  private edgeCount = 0;
  private sweeperCount = 0;
  private webhooksCount = 0;

  async addEdge(env: Record<string, string> = {}): Promise<EdgeProcess> {
    // Numbered before any await: edges are added concurrently.
    const index = this.edgeCount++;
    const name = `edge-${index}`;
    return withFreePorts(async () => {
      const [port, wsPort, metricsPort] = (await freePorts(3)) as [number, number, number];
      const edge = new ServiceProcess(
        'edge',
        name,
        {
          ...this.baseEnv,
          EDGE_PORT: String(port),
          EDGE_WS_PORT: String(wsPort),
          EDGE_METRICS_PORT: String(metricsPort),
          NODE_ID: name,
          ...env,
        },
        `${this.logDir}/${name}.log`,
      ) as EdgeProcess;
      edge.port = port;
      edge.wsPort = Number(env.EDGE_WS_PORT ?? wsPort);
      this.edges[index] = edge;
      await this.startEdge(edge);
      return edge;
    });
  }

  /** (Re)starts an edge process and waits until it listens (its own "listening" line, not just the port). */
  async startEdge(edge: EdgeProcess): Promise<void> {
    const before = occurrences(edge.log(), 'edge node listening');
    edge.start();
    await waitForStart(edge, async () => occurrences(edge.log(), 'edge node listening') > before && (await canConnect(edge.port)));
  }

  async addSweeper(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const name = `sweeper-${this.sweeperCount++}`;
    return withFreePorts(async () => {
      const sweeper = new ServiceProcess(
        'sweeper',
        name,
        {
          ...this.baseEnv,
          SWEEPER_METRICS_PORT: String(await freePort()),
          NODE_ID: name,
          ...env,
        },
        `${this.logDir}/${name}.log`,
      );
      this.sweepers.push(sweeper);
      sweeper.start();
      try {
        await waitForStart(sweeper, () => sweeper.log().includes('sweeper started'));
      } catch (error) {
        // It has exited: the next attempt takes its place.
        if (error instanceof PortTaken) this.sweepers.splice(this.sweepers.indexOf(sweeper), 1);
        throw error;
      }
      return sweeper;
    });
  }

  /** Starts a webhooks worker (its env on top of the stack's) and waits until it runs. */
  async addWebhooks(env: Record<string, string> = {}): Promise<WebhooksProcess> {
    const name = `webhooks-${this.webhooksCount++}`;
    const metricsPort = await freePort();
    const worker = new ServiceProcess(
      'webhooks',
      name,
      { ...this.baseEnv, WEBHOOKS_HOST: '127.0.0.1', WEBHOOKS_METRICS_PORT: String(metricsPort), NODE_ID: name, ...env },
      `${this.logDir}/${name}.log`,
    ) as WebhooksProcess;
    worker.metricsPort = metricsPort;
    this.webhooks.push(worker);
    await this.startWebhooks(worker);
    return worker;
  }

  /** (Re)starts a webhooks worker and waits for its start line. */
  async startWebhooks(worker: WebhooksProcess): Promise<void> {
    const started = (worker.log().match(/webhooks worker started/g) ?? []).length;
    worker.start();
    await waitFor(() => (worker.log().match(/webhooks worker started/g) ?? []).length > started, {
      timeoutMs: 20_000,
      what: `${worker.name} to start`,
    });
  }

  async startApi(): Promise<void> {
    if (this.api !== null) {
      const api = this.api;
      api.start();
      await waitForStart(api, async () => (await fetch(`${api.url}/readyz`).catch(() => null))?.ok === true);
      return;
    }
    await withFreePorts(async () => {
      const port = await freePort();
      const api = Object.assign(new ServiceProcess('api', 'api', { ...this.baseEnv, API_PORT: String(port) }, `${this.logDir}/api.log`), {
        url: `http://127.0.0.1:${port}`,
      });
      this.api = api;
      api.start();
      await waitForStart(api, async () => (await fetch(`${api.url}/readyz`).catch(() => null))?.ok === true);
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.edges, ...this.sweepers, ...this.webhooks, ...(this.api ? [this.api] : [])].map((p) => p.stop('SIGTERM')));
  }
}

/** A service stopped because a port handed out as free was taken meanwhile (by anything on this machine). */
class PortTaken extends Error {}

/** Starts a service on ports picked now, and on others if one of them was taken before it listened. */
async function withFreePorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt >= 3) throw error;
    }
  }
}

/** Waits until `ready`, or fails at once when the process exits first (PortTaken for a taken port). */
async function waitForStart(service: ServiceProcess, ready: () => boolean | Promise<boolean>): Promise<void> {
  await waitFor(async () => !service.running || (await ready()), { timeoutMs: 20_000, what: `${service.name} to start` });
  if (service.running) return;
  const last = service.log().trim().split('\n').at(-1) ?? '';
  if (last.includes('is already in use')) throw new PortTaken(last);
  throw new Error(`${service.name} exited while starting: ${last}`);
}

function occurrences(text: string, line: string): number {
  return text.split(line).length - 1;
}

/** Whether a TCP connection to 127.0.0.1:port is accepted now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
