import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerRedisUpGauge } from './redis-up-gauge.js';

async function scrape(ping: () => Promise<unknown>, timeoutMs?: number): Promise<string> {
  const registry = new Registry();
  registerRedisUpGauge(registry, ping, timeoutMs);
  return registry.metrics();
}

describe('presence_redis_up', () => {
  it('is 1 when Redis answers the PING', async () => {
    expect(await scrape(async () => 'PONG')).toMatch(/^presence_redis_up 1$/m);
  });

  it('is 0 when the PING fails (connection refused, fail-fast client)', async () => {
    expect(await scrape(() => Promise.reject(new Error('Connection is closed.')))).toMatch(/^presence_redis_up 0$/m);
  });

  it('is 0 when the PING is not answered in time (a partition delays every byte)', async () => {
    expect(await scrape(() => new Promise(() => {}), 20)).toMatch(/^presence_redis_up 0$/m);
  });

  it('asks again at every scrape', async () => {
    const registry = new Registry();
    let reachable = true;
    registerRedisUpGauge(registry, () => (reachable ? Promise.resolve('PONG') : Promise.reject(new Error('down'))));
    expect(await registry.metrics()).toMatch(/^presence_redis_up 1$/m);
    reachable = false;
    expect(await registry.metrics()).toMatch(/^presence_redis_up 0$/m);
  });
});
