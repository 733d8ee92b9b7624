import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKeys, mintToken, type JwtKeys } from '../support/jwt-keys.js';
import { Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { WireClient } from '../support/wire-client.js';

/** The `channels` claim of a HELLO token decides what the client may join (AUTH_MODE=jwt, a real edge). */

let keys: JwtKeys;
let stack: Stack;
let edge: EdgeProcess;

beforeAll(async () => {
  keys = await createJwtKeys();
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 0, api: false });
  edge = await stack.addEdge({ AUTH_MODE: 'jwt', JWT_SECRET: keys.secret });
});

afterAll(async () => {
  await stack?.stop();
  if (keys !== undefined) rmSync(keys.dir, { recursive: true, force: true });
});

async function session(clientId: string, extra: Record<string, unknown>): Promise<{ client: WireClient; first: string }> {
  const token = await mintToken({ alg: 'HS256', key: keys.secret, sub: clientId, extra });
  const client = await WireClient.connect(edge.port);
  client.send(`HELLO ${clientId} ${token}`);
  return { client, first: await client.nextLine() };
}

describe('the channels claim', () => {
  it('allows exact names and prefix* patterns, forbids the rest, and the session carries on', async () => {
    const { client, first } = await session('alice', { channels: ['lobby', 'team:7:*'] });
    expect(first).toMatch(/^WELCOME /);
    for (const channel of ['lobby', 'team:7:chat', 'team:8:chat', 'lobby2', 'team:7']) client.send(`JOIN ${channel}`);
    const answers = [];
    for (let i = 0; i < 5; i += 1) answers.push((await client.nextLine()).split(' ').slice(0, 3).join(' '));
    expect(answers).toEqual([
      'JOINED lobby 1',
      'JOINED team:7:chat 1',
      'NACK team:8:chat forbidden',
      'NACK lobby2 forbidden',
      'NACK team:7 forbidden',
    ]);
    client.send('PING');
    client.send('LEAVE lobby');
    expect(await client.nextLine(5_000, false)).toBe('PONG');
    expect(await client.nextLine()).toBe('LEFT lobby 0 0');
    client.send('BYE');
  });

  it('without the claim every channel may be joined; a claim that is not a list of strings refuses the token', async () => {
    const open = await session('bob', {});
    open.client.send('JOIN anything/at@all');
    expect(await open.client.nextLine()).toBe('JOINED anything/at@all 1 1');
    open.client.send('BYE');
    const bad = await session('carol', { channels: 'lobby' });
    expect(bad.first).toMatch(/^ERR unauthorized the channels claim must be a list/);
  });
});
