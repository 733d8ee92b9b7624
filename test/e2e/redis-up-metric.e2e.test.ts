import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchFresh } from '../support/fetch-fresh.js';
import { RedisServer } from '../support/redis-server.js';
import { Stack } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';

// presence_redis_up is what the RedisUnreachable alert reads (deploy/prometheus/alerts.yml).
let redis: RedisServer;
let stack: Stack;

beforeAll(async () => {
  redis = await RedisServer.start();
  stack = await Stack.start({ redisUrl: redis.url, edges: 1, sweepers: 1 });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.kill();
});

/** presence_redis_up as each process reports it: edge, sweeper, api. */
async function redisUp(): Promise<(number | null)[]> {
  const urls = [
    `http://127.0.0.1:${stack.edges[0]?.env.EDGE_METRICS_PORT}/metrics`,
    `http://127.0.0.1:${stack.sweepers[0]?.env.SWEEPER_METRICS_PORT}/metrics`,
    `${stack.apiUrl}/metrics`,
  ];
  return Promise.all(
    urls.map(async (url) => {
      const match = /^presence_redis_up\{[^}]*\} (\d+)$/m.exec(await (await fetchFresh(url)).text());
      return match === null ? null : Number(match[1]);
    }),
  );
}

describe('presence_redis_up', () => {
  it('is 1 on every process while Redis answers, 0 while it is down, and 1 again once it is back', async () => {
    expect(await redisUp()).toEqual([1, 1, 1]);
    await redis.kill();
    await waitFor(async () => (await redisUp()).every((up) => up === 0), { timeoutMs: 10_000, what: 'every process to report Redis down' });
    await redis.start();
    await waitFor(async () => (await redisUp()).every((up) => up === 1), { timeoutMs: 15_000, what: 'every process to report Redis up' });
  });
});
