import { afterAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server.js';
import { Stack } from '../support/stack.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

/**
 * Redis restarts empty (no persistence) under connected clients: the edge registers its sessions
 * again, and they are back in their channels, with their latest states, without a word to them.
 */

let redis: RedisServer | null = null;
let stack: Stack | null = null;
const clients: WireClient[] = [];

afterAll(async () => {
  for (const client of clients) client.destroy();
  await stack?.stop();
  await redis?.kill();
});

interface MembersPage {
  clients: number;
  sessions: number;
  members: { clientId: string; sessions: { state?: unknown }[] }[];
}

describe('Redis restarted empty', () => {
  it('puts every session back in its channels with its state, and tells the clients nothing', async () => {
    redis = await RedisServer.start();
    stack = await Stack.start({ redisUrl: redis.url, edges: 1, sweepers: 1 });
    const port = (stack.edges[0] as { port: number }).port;
    const members = async (): Promise<MembersPage> =>
      (await (await fetch(`${stack?.apiUrl}/v1/channels/room:1/members?state=1`)).json()) as MembersPage;

    const alice = await WireClient.session(port, 'alice');
    const bob = await WireClient.session(port, 'bob');
    clients.push(alice.client, bob.client);
    alice.client.send('JOIN room:1 {"role":"host"}');
    expect(await alice.client.nextLine()).toBe('JOINED room:1 1 1');
    alice.client.send('SET room:1 {"role":"guest"}');
    expect(await alice.client.nextLine()).toBe('UPDATED room:1 1 1');
    bob.client.send('JOIN room:1');
    expect(await bob.client.nextLine()).toBe('JOINED room:1 2 2');
    bob.client.send('JOIN room:2');
    expect(await bob.client.nextLine()).toBe('JOINED room:2 1 1');
    bob.client.send('LEAVE room:2');
    expect(await bob.client.nextLine()).toBe('LEFT room:2 0 0');

    await redis.kill();
    await redis.start();
    // The next refresh finds the sessions missing; the edge adds them and rejoins their channels.
    await waitFor(async () => (await members()).sessions === 2, { timeoutMs: 10_000, what: 'both back in room:1' });
    const page = await members();
    expect([page.clients, page.sessions]).toEqual([2, 2]);
    expect(page.members.map((m) => [m.clientId, m.sessions.map((s) => s.state)])).toEqual([
      ['alice', [{ role: 'guest' }]],
      ['bob', [null]],
    ]);
    const room2 = (await (await fetch(`${stack.apiUrl}/v1/channels/room:2`)).json()) as { sessions: number };
    expect(room2.sessions).toBe(0);
    const where = (await (await fetch(`${stack.apiUrl}/v1/presence/bob/channels`)).json()) as { channels: string[] };
    expect(where.channels).toEqual(['room:1']);

    // The clients heard nothing but their PONGs, and their sessions go on: a LEAVE is answered as usual.
    alice.client.send('LEAVE room:1');
    expect(await alice.client.nextLine()).toBe('LEFT room:1 1 1');
  });
});
