import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sleep, waitUntil } from './clock.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_DIST = fileURLToPath(new URL('./', import.meta.url));

/** Ports handed out by this process: services started concurrently must never get the same one. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One OS process of the benchmark (a service, Redis, Mosquitto, a baseline server), logging to a file. */
export class BenchProcess {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly exit: Promise<number | null>;

  constructor(name: string, command: string, args: string[], options: { env?: Record<string, string>; logFile: string }) {
    this.name = name;
    const fd = openSync(options.logFile, 'a');
    this.child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} has no pid (did it start?)`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Signals the process and waits for it to exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL without waiting: the moment of death is the caller's timestamp. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  exited(): Promise<number | null> {
    return this.exit;
  }
}

/** Where a run keeps logs, configs and profiles (git-ignored). */
export class Workdir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }
  path(name: string): string {
    return `${this.dir}/${name}`;
  }
}

export interface RedisHandle {
  url: string;
  port: number;
  pid: number;
  process: BenchProcess | null;
  stop(): Promise<void>;
}

/** A redis-server of the benchmark's own on a free loopback port, without persistence. */
export async function startRedis(work: Workdir, name: string, extraArgs: string[] = []): Promise<RedisHandle> {
  const external = process.env.REDIS_URL;
  if (external !== undefined && external !== '') {
    const client = new Redis(external, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    const info = await client.info('server');
    client.disconnect();
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? '0');
    const port = Number(/tcp_port:(\d+)/.exec(info)?.[1] ?? '0');
    return { url: external, port, pid, process: null, stop: async () => {} };
  }
  const port = await freePort();
  const dir = work.path(`${name}-data`);
  mkdirSync(dir, { recursive: true });
  const proc = new BenchProcess(
    name,
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxclients',
      '10000',
      ...extraArgs,
    ],
    { logFile: work.path(`${name}.log`) },
  );
  const url = `redis://127.0.0.1:${port}`;
  const up = await waitUntil(async () => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } finally {
      probe.disconnect();
    }
  }, 10_000);
  if (!up) throw new Error(`redis-server did not start on port ${port}; see ${work.path(`${name}.log`)}`);
  return { url, port, pid: proc.pid, process: proc, stop: async () => void (await proc.stop('SIGKILL')) };
}

export type ServiceName = 'edge' | 'sweeper' | 'api' | 'webhooks';

export interface ServiceHandle {
  proc: BenchProcess;
  port: number;
  /** Metrics (edge, sweeper, webhooks) or HTTP (api) port. */
  httpPort: number;
}

/** The service's production Node flags: its package.json `nodeFlags`, as docker-compose.yml runs it. */
export function serviceNodeFlags(service: ServiceName): string[] {
  const pkg = JSON.parse(readFileSync(`${ROOT}services/${service}/package.json`, 'utf8')) as { nodeFlags?: string[] };
  return pkg.nodeFlags ?? [];
}

/**
 * Starts a built service (`services/<name>/dist/main.js`) with env, like test/support/stack.ts does,
 * and waits until it serves. `nodeArgs` go to node itself (e.g. --cpu-prof), after the service's
 * production flags, or after `nodeFlags` instead when given (A/B runs).
 */
export async function startService(
  work: Workdir,
  service: ServiceName,
  name: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  nodeFlags: string[] | null = null,
): Promise<ServiceHandle> {
  const port = await freePort();
  const httpPort = await freePort();
  // Every edge gets a WebSocket port of its own too (the default, 7072, would clash), unless given one.
  let wsPort = env.EDGE_WS_PORT ?? '';
  // Two free ports asked one after the other may be the same one.
  while (service === 'edge' && (wsPort === '' || wsPort === String(port) || wsPort === String(httpPort))) wsPort = String(await freePort());
  const portEnv: Record<string, string> =
    service === 'edge'
      ? { EDGE_PORT: String(port), EDGE_WS_PORT: wsPort, EDGE_METRICS_PORT: String(httpPort), NODE_ID: name }
      : service === 'sweeper'
        ? { SWEEPER_METRICS_PORT: String(httpPort), NODE_ID: name }
        : service === 'webhooks'
          ? { WEBHOOKS_METRICS_PORT: String(httpPort), NODE_ID: name }
          : { API_PORT: String(httpPort) };
  const proc = new BenchProcess(
    name,
    process.execPath,
    [...(nodeFlags ?? serviceNodeFlags(service)), ...nodeArgs, `${ROOT}services/${service}/dist/main.js`],
    {
      env: { ...env, ...portEnv },
      logFile: work.path(`${name}.log`),
    },
  );
  const ready = await waitUntil(
    async () => {
      if (!proc.running) throw new Error('exited');
      if (service === 'edge') return canConnect(port);
      const path = service === 'api' ? '/readyz' : '/healthz';
      return (await fetch(`http://127.0.0.1:${httpPort}${path}`)).ok;
    },
    20_000,
    100,
  );
  // A port taken by someone else would make us connect to them: the process must still be up.
  await sleep(150);
  if (!ready || !proc.running) throw new Error(`${name} did not start; see ${work.path(`${name}.log`)}`);
  return { proc, port, httpPort };
}

/** A bench-dist script as its own process (baseline servers). */
export async function startScript(
  work: Workdir,
  script: string,
  name: string,
  args: string[],
  readyPort: number,
  nodeArgs: string[] = [],
): Promise<BenchProcess> {
  const proc = new BenchProcess(name, process.execPath, [...nodeArgs, `${BENCH_DIST}${script}`, ...args], {
    env: { ...(process.env as Record<string, string>) },
    logFile: work.path(`${name}.log`),
  });
  const ready = await waitUntil(() => proc.running && canConnect(readyPort), 15_000, 100);
  if (!ready) throw new Error(`${name} did not start; see ${work.path(`${name}.log`)}`);
  return proc;
}

/** Mosquitto on a free port with a config of our own (the system one keeps 1883). Null when absent. */
export async function startMosquitto(work: Workdir, name: string): Promise<{ proc: BenchProcess; port: number } | null> {
  const binary = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((path) => {
    try {
      closeSync(openSync(path, 'r'));
      return true;
    } catch {
      return false;
    }
  });
  if (binary === undefined) return null;
  const port = await freePort();
  const config = work.path(`${name}.conf`);
  writeFileSync(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_connections -1',
      'log_dest none',
      'max_keepalive 65535',
      '',
    ].join('\n'),
  );
  const proc = new BenchProcess(name, binary, ['-c', config], { logFile: work.path(`${name}.log`) });
  const ready = await waitUntil(() => proc.running && canConnect(port), 10_000, 100);
  if (!ready) {
    await proc.stop('SIGKILL');
    return null;
  }
  await sleep(100);
  return { proc, port };
}

/** Fetches a Prometheus text page and returns the value of one unlabelled metric (sum over labels). */
export async function scrapeMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}
