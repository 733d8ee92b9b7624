import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisConnection } from '@presence/presence-store';
import { SentinelSet, info } from '../support/redis-sentinel.js';
import { waitFor } from '../support/wait-for.js';

// REDIS_MODE=sentinel's client, and the test set the failover test runs on. Sentinel fails over a
// single master: the suite's Redis Cluster run (TEST_REDIS_CLUSTER=1) has nothing to add here, and
// every Redis this file uses is its own, so it runs once, with the standalone suite.
describe.skipIf(process.env.TEST_REDIS_CLUSTER === '1')('Redis Sentinel', () => {
  let set: SentinelSet;
  let client: Redis;

  beforeAll(async () => {
    set = await SentinelSet.start();
    client = createRedisConnection({ url: set.url, mode: 'sentinel', sentinelMaster: 'mymaster' }) as Redis;
    client.on('error', () => {});
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    await set?.stop();
  });

  it('finds the master through the sentinels, and the new one after the old is SIGKILLed', async () => {
    await client.set('sentinel-test', 'before');
    const oldRunId = /run_id:(\w+)/.exec(await client.info('server'))?.[1];
    expect(/tcp_port:(\d+)/.exec(await client.info('server'))?.[1]).toBe(String(set.master.port));

    await set.master.kill();
    await waitFor(async () => (await set.masterPort()) === set.replica.port, {
      timeoutMs: 30_000,
      what: 'the sentinels to promote the replica',
    });
    // Commands sent meanwhile wait in the client's queue (no failFast) and reach the new master.
    await client.set('sentinel-test', 'after');
    const server = await client.info('server');
    expect(/tcp_port:(\d+)/.exec(server)?.[1]).toBe(String(set.replica.port));
    // The new master is another process: the sweeper's restart detection (run_id) sees the failover.
    expect(/run_id:(\w+)/.exec(server)?.[1]).not.toBe(oldRunId);
    expect(await info(set.replica.port, 'replication')).toContain('role:master');
    expect(await client.get('sentinel-test')).toBe('after');
  });
});
