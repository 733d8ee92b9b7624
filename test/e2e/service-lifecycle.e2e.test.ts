import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('configuration errors', () => {
  it.each([
    ['edge', { SHARD_COUNT: '0' }, 'config: SHARD_COUNT must be at least 1 (got "0")'],
    ['edge', { HEARTBEAT_INTERVAL_MS: '5000', HEARTBEAT_TIMEOUT_MS: '4000' }, 'config: HEARTBEAT_TIMEOUT_MS must be greater than HEARTBEAT_INTERVAL_MS (5000) (got "4000")'],
    ['sweeper', { SWEEP_INTERVAL_MS: 'soon' }, 'config: SWEEP_INTERVAL_MS must be a whole number between 50 and 600000 (got "soon")'],
    ['api', { REDIS_MODE: 'sentinel' }, 'config: REDIS_MODE must be one of standalone, cluster (got "sentinel")'],
    ['api', { KEY_PREFIX: 'a{b}' }, 'config: KEY_PREFIX must be 1-64 characters of A-Z a-z 0-9 . _ - (got "a{b}")'],
  ])('%s with %j stops with one line naming the variable and exit code 1', (service, env, message) => {
    const result = spawnSync(process.execPath, [`${ROOT}services/${service}/dist/main.js`], {
      env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`${message}\n`);
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
    await waitFor(async () => /presence_events_total\{type="offline",reason="leave"[^}]*\} 1/.test(await (await fetch(`${stack.apiUrl}/metrics`)).text()), {
      what: 'the API to count the offline event',
    });
  });

  it('every service exits 0 on SIGTERM', async () => {
    const codes = await Promise.all([stack.edges[0], stack.sweepers[0], stack.api].map((p) => p?.stop('SIGTERM')));
    expect(codes).toEqual([0, 0, 0]);
  });
});
