import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceProcess, runPresence } from '../support/client-cli.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';

// The "done when", with the built binary: alice and bob connect with --join room:1 (on two
// edges), `presence channel room:1` lists both, and `presence watch --channel room:1` prints
// `leave bob closed` when bob's terminal is killed.

let stack: Stack;
let env: Record<string, string>;
const running: PresenceProcess[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 2, sweepers: 1 });
  env = { PRESENCE_API_URL: stack.apiUrl };
});

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await stack?.stop();
});

function start(args: string[]): PresenceProcess {
  const process = new PresenceProcess(args, env);
  running.push(process);
  return process;
}

const port = (i: number) => String((stack.edges[i] as { port: number }).port);

describe('presence connect --join, channel and watch --channel', () => {
  it('shows both members, and watch prints leave bob closed when bob is killed', async () => {
    // From the channel's first event, so that the watch can't miss one while it subscribes.
    const watch = start(['watch', '--channel', 'room:1', '--after', '0']);
    const alice = start(['connect', 'alice', '--port', port(0), '--join', 'room:1']);
    expect(await alice.waitForLine(/^joined room:1 /)).toBe('joined room:1 (1 client, 1 session)');
    const bob = start(['connect', 'bob', '--port', port(1), '--join', 'room:1']);
    expect(await bob.waitForLine(/^joined room:1 /)).toBe('joined room:1 (2 clients, 2 sessions)');
    await watch.waitForLine(/ join +bob /);

    const channel = await runPresence(['channel', 'room:1'], env);
    expect(channel.code).toBe(0);
    expect(channel.stdout).toMatch(
      /^room:1: 2 clients, 2 sessions\nCLIENT +NODE +JOINED +SESSION\nalice +edge-0 +.* UTC +[0-9a-f]{20}\nbob +edge-1 +.* UTC +[0-9a-f]{20}\n$/,
    );

    await bob.stop('SIGKILL');
    const leave = await watch.waitForLine(/ leave +bob /);
    expect(leave).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC {2}leave +bob +closed +edge-1 +room:1 {2}1 client$/);
    const after = await runPresence(['channel', 'room:1', '--json'], env);
    expect(JSON.parse(after.stdout)).toMatchObject({ channel: 'room:1', clients: 1, sessions: 1, members: [{ clientId: 'alice' }] });

    expect(await alice.stop('SIGINT')).toBe(0);
    expect(await watch.waitForLine(/ leave +alice /)).toMatch(/ leave +alice +leave +edge-0 +room:1 {2}0 clients$/);
  });

  it('refuses a bad channel name with a usage-level message, and a bad --types', async () => {
    const bad = await runPresence(['channel', 'a b'], env);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/bad_channel/)]);
    const types = await runPresence(['watch', '--channel', 'room:1', '--types', 'online'], env);
    expect([types.code, types.stderr]).toEqual([2, expect.stringMatching(/--types must list join, leave, update/)]);
  });
});
