import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { createRedisConnection, isRedisUnavailable, whenReady } from '@presence/presence-store';
import { freePort } from '../support/free-port.js';
import { RedisServer } from '../support/redis-server.js';

// The failures ioredis really raises, provoked on a Redis of this file's own (it is paused and
// killed), each classified as the API classifies them: "unavailable" is a 503, anything else a 500.

let server: RedisServer;
const clients: (Redis | Cluster)[] = [];

function connect(url: string, options: { commandTimeoutMs?: number } = {}): Redis | Cluster {
  const client = createRedisConnection({ url, mode: 'standalone', failFast: true, ...options });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

async function failure(command: Promise<unknown>): Promise<Error> {
  try {
    await command;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the command did not fail');
}

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server.kill();
});

describe('isRedisUnavailable, on what ioredis raises', () => {
  it('a command while nothing listens', async () => {
    const client = connect(`redis://127.0.0.1:${await freePort()}`);
    const error = await failure(client.get('key'));
    expect(isRedisUnavailable(error), error.message).toBe(true);
  });

  it('a command Redis does not answer within the command timeout', async () => {
    const client = connect(server.url, { commandTimeoutMs: 100 });
    const admin = connect(server.url);
    expect(await whenReady(client, 5_000)).toBe(true);
    await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const error = await failure(client.get('key'));
    expect(error.message).toBe('Command timed out');
    expect(isRedisUnavailable(error)).toBe(true);
  });

  it('a command in flight when Redis goes away', async () => {
    const client = connect(server.url);
    const admin = connect(server.url);
    expect(await whenReady(client, 5_000)).toBe(true);
    await admin.call('CLIENT', 'PAUSE', '10000', 'ALL');
    const pending = failure(client.get('key'));
    await server.kill();
    const error = await pending;
    await server.start();
    expect(isRedisUnavailable(error), `${error.name}: ${error.message}`).toBe(true);
  });

  it('not an error reply that says the command was wrong', async () => {
    const client = connect(server.url);
    expect(await whenReady(client, 5_000)).toBe(true);
    await client.set('a-string', 'x');
    const error = await failure(client.lpush('a-string', 'y'));
    expect(error.message).toMatch(/^WRONGTYPE/);
    expect(isRedisUnavailable(error)).toBe(false);
  });
});
