import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, freePorts } from '../support/free-port.js';
import { Stack, nodeFlags, type ServiceName } from '../support/stack.js';
import { testRedisMode, testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('configuration errors', () => {
  it.each([
    ['edge', { SHARD_COUNT: '0' }, 'config: SHARD_COUNT must be at least 1 (got "0")'],
    [
      'edge',
      { HEARTBEAT_INTERVAL_MS: '5000', HEARTBEAT_TIMEOUT_MS: '4000' },
      'config: HEARTBEAT_TIMEOUT_MS must be greater than HEARTBEAT_INTERVAL_MS (5000) (got "4000")',
    ],
    ['sweeper', { SWEEP_INTERVAL_MS: 'soon' }, 'config: SWEEP_INTERVAL_MS must be a whole number between 50 and 600000 (got "soon")'],
    ['api', { REDIS_MODE: 'replica' }, 'config: REDIS_MODE must be one of standalone, cluster, sentinel (got "replica")'],
    [
      'edge',
      { REDIS_WITNESS_URL: 'http://api:8080/readyz', SESSION_REFRESH_MS: '5000', SESSION_TTL_MS: '9000' },
      'config: FENCE_AFTER_MS plus SESSION_REFRESH_MS (5000) must be less than the session TTL (9000), or a cut-off edge finds out only after its clients expired',
    ],
    [
      'edge',
      { REDIS_WITNESS_URL: 'api:8080/readyz' },
      'config: REDIS_WITNESS_URL must be an http:// or https:// URL (got "api:8080/readyz")',
    ],
    ['api', { KEY_PREFIX: 'a{b}' }, 'config: KEY_PREFIX must be 1-64 characters of A-Z a-z 0-9 . _ - (got "a{b}")'],
  ])('%s with %j stops with one line naming the variable and exit code 1', (service, env, message) => {
    const result = spawnSync(process.execPath, [`${ROOT}services/${service}/dist/main.js`], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${message}\n`);
  });
});

/** A service started as its own process, its output (stdout and stderr together, and stderr alone) read as it comes. */
class Service {
  readonly child: ChildProcess;
  output = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(service: ServiceName, env: Record<string, string>) {
    this.child = spawn(process.execPath, [...nodeFlags(service), `${ROOT}services/${service}/dist/main.js`], {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        EDGE_HOST: '127.0.0.1',
        SWEEPER_HOST: '127.0.0.1',
        API_HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  lines(): string[] {
    return this.output.split('\n').filter((line) => line !== '');
  }
}

const started: Service[] = [];
const listeners: Server[] = [];
afterEach(async () => {
  for (const service of started.splice(0)) service.child.kill('SIGKILL');
  await Promise.all(listeners.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

function start(service: ServiceName, env: Record<string, string>): Service {
  const running = new Service(service, env);
  started.push(running);
  return running;
}

/** Some other process on a port: what a second edge or sweeper on one host finds. */
async function takenPort(): Promise<number> {
  const server = createServer();
  listeners.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('a port already in use', () => {
  it.each<[ServiceName, string]>([
    ['edge', 'EDGE_PORT'],
    ['edge', 'EDGE_WS_PORT'],
    ['edge', 'EDGE_METRICS_PORT'],
    ['sweeper', 'SWEEPER_METRICS_PORT'],
    ['api', 'API_PORT'],
  ])('%s with %s taken stops with one line naming it and exit code 1', async (service, variable) => {
    const port = await takenPort();
    const [edgePort, wsPort, metricsPort, apiPort] = await freePorts(4);
    const ports = {
      EDGE_PORT: String(edgePort),
      EDGE_WS_PORT: String(wsPort),
      EDGE_METRICS_PORT: String(metricsPort),
      API_PORT: String(apiPort),
    };
    const running = start(service, {
      REDIS_URL: testRedisUrl(),
      REDIS_MODE: testRedisMode(),
      ...ports,
      SWEEPER_METRICS_PORT: String(await freePort()),
      [variable]: String(port),
    });
    expect(await running.exited).toBe(1);
    const host = '127.0.0.1';
    const problem = `config: ${variable} ${port} is already in use on ${host} (another process listens there; several on one host each need their own ports, see README, Scaling): set ${variable} to a free port`;
    // The one line on stderr, and no stack; on stdout only the JSON lines logged before it tried the port.
    expect(running.stderr).toBe(`${problem}\n`);
    expect(running.lines().filter((line) => !line.startsWith('{'))).toEqual([problem]);
  });
});

describe('no Redis at the given URL', () => {
  it('each service says so in one JSON line naming the URL and REDIS_URL, is not ready and says why, and stops within 5 s', async () => {
    const redisUrl = `redis://:not-shown@127.0.0.1:${await freePort()}`;
    const shown = redisUrl.replace('not-shown', '***');
    const [edgePort, edgeWsPort, edgeMetricsPort, sweeperMetricsPort, apiPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const metricsPort = { edge: edgeMetricsPort, sweeper: sweeperMetricsPort };
    const edge = start('edge', {
      REDIS_URL: redisUrl,
      EDGE_PORT: String(edgePort),
      EDGE_WS_PORT: String(edgeWsPort),
      EDGE_METRICS_PORT: String(metricsPort.edge),
    });
    const sweeper = start('sweeper', { REDIS_URL: redisUrl, SWEEPER_METRICS_PORT: String(metricsPort.sweeper) });
    const api = start('api', { REDIS_URL: redisUrl, API_PORT: String(apiPort) });
    const services = { edge, sweeper, api };
    const readyz = {
      edge: `http://127.0.0.1:${metricsPort.edge}/readyz`,
      sweeper: `http://127.0.0.1:${metricsPort.sweeper}/readyz`,
      api: `http://127.0.0.1:${apiPort}/readyz`,
    };
    const problem = `Redis at ${shown} has not answered since this process started (connect ECONNREFUSED 127.0.0.1:${new URL(redisUrl).port}): start it, or set REDIS_URL`;
    for (const [name, url] of Object.entries(readyz)) {
      const response = await waitFor(() => fetch(url).catch(() => undefined), {
        timeoutMs: 30_000,
        what: `${name} to answer /readyz (output: ${services[name as keyof typeof services].output})`,
      });
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ error: { code: 'not_ready', message: problem } });
    }

    // What the edge does meanwhile (README, Configuration): it takes the session and queues its write.
    const { client } = await WireClient.session(edgePort, 'waiting-for-redis', 0);
    client.send('PING');
    expect(await client.nextLine(2_000, false)).toBe('PONG');

    for (const [name, service] of Object.entries(services)) {
      const stopping = performance.now();
      service.child.kill('SIGTERM');
      expect(await service.exited, `${name} exit code`).toBe(0);
      expect(performance.now() - stopping, `${name} stop time (ms)`).toBeLessThan(5_000);
      const lines = service.lines();
      expect(
        lines.filter((line) => !line.startsWith('{')),
        `${name}: lines that are not JSON`,
      ).toEqual([]);
      const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string; err?: { stack?: string } });
      const warnings = records.filter((r) => r.level >= 40);
      expect(
        warnings.map((r) => r.msg),
        `${name}: warnings`,
      ).toEqual([problem]);
      expect(records.filter((r) => r.err?.stack !== undefined && r.err.stack !== '')).toEqual([]);
    }
    client.destroy();
  });
});

describe('a running stack', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1 });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('exposes the metrics the operators need on each service', async () => {
    const { client } = await WireClient.session(stack.edges[0]?.port ?? 0, 'metrics-probe');
    client.send('PING');
    await client.bye();
    const edgeMetrics = `http://127.0.0.1:${stack.edges[0]?.env.EDGE_METRICS_PORT}/metrics`;
    const sweeperMetrics = `http://127.0.0.1:${stack.sweepers[0]?.env.SWEEPER_METRICS_PORT}/metrics`;
    await waitFor(async () => /presence_edge_flushes_total\{[^}]*\} [1-9]/.test(await (await fetch(edgeMetrics)).text()), {
      what: 'a flush to be counted',
    });
    const edge = await (await fetch(edgeMetrics)).text();
    expect(edge).toMatch(/presence_edge_connections\{[^}]*\} 0/);
    expect(edge).toMatch(/presence_edge_heartbeats_total\{[^}]*\} [1-9]/);
    expect(edge).toMatch(/presence_edge_sessions_ended_total\{reason="leave"[^}]*\} 1/);
    await waitFor(async () => /presence_sweep_seconds_count\{[^}]*\} [1-9]/.test(await (await fetch(sweeperMetrics)).text()), {
      what: 'a sweep to be timed',
    });
    await waitFor(
      async () =>
        /presence_events_total\{type="offline",reason="leave"[^}]*\} 1/.test(await (await fetch(`${stack.apiUrl}/metrics`)).text()),
      {
        what: 'the API to count the offline event',
      },
    );
    // Read from Redis at each scrape (services/api/src/backlog-metrics.ts); the sweeper keeps up here.
    expect(await (await fetch(`${stack.apiUrl}/metrics`)).text()).toMatch(/^presence_sessions_overdue_seconds\{[^}]*\} 0$/m);
  });

  it('every service exits 0 on SIGTERM', async () => {
    const services = [stack.edges[0]!, stack.sweepers[0]!, stack.api!];
    const codes = await Promise.all(services.map((p) => p.stop('SIGTERM')));
    expect(codes).toEqual([0, 0, 0]);
  });
});
