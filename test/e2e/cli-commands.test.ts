import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPresence } from '../support/client-cli.js';
import { freePort } from '../support/free-port.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

// `presence status | list | stats`, run as the built binary against a real stack whose API wants a
// bearer token: human tables, --json, and one-line errors with their exit codes.

const TOKEN = 'cli-test-token-0123456789abcdef';
let stack: Stack;
let env: Record<string, string>;
let authEnforced: boolean;
const sessions: WireClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 1, sweepers: 1, env: { API_TOKENS: TOKEN } });
  env = { PRESENCE_API_URL: stack.apiUrl, PRESENCE_API_TOKEN: TOKEN };
  authEnforced = (await fetch(`${stack.apiUrl}/v1/stats`)).status === 401;
  const port = stack.edges[0]?.port ?? 0;
  for (const id of ['cli-ann', 'cli-bea', 'cli-cid']) {
    const { client } = await WireClient.session(port, id);
    sessions.push(client);
  }
  sessions[0]?.send('PING {"status":"away"}');
  await waitFor(
    async () => {
      const res = await fetch(`${stack.apiUrl}/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const stats = (await res.json()) as { onlineClients: number; nodes: { sessions: number }[] };
      return stats.onlineClients === 3 && stats.nodes[0]?.sessions === 3;
    },
    { what: 'three clients online' },
  );
  // A client that was online once, then left.
  const { client } = await WireClient.session(port, 'cli-gone');
  await client.bye();
});

afterAll(async () => {
  for (const client of sessions) client.destroy();
  await stack?.stop();
});

describe('presence status', () => {
  it('prints a table: online with since and state, offline with last seen, unknown as never seen', async () => {
    await waitFor(async () => (await runPresence(['status', 'cli-ann'], env)).stdout.includes('{"status":"away"}'), { what: 'the state' });
    const result = await runPresence(['status', 'cli-ann', 'cli-gone', 'cli-nobody'], env);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CLIENT +STATUS +SINCE +SESSIONS +NODES +STATE$/);
    expect(lines[1]).toMatch(/^cli-ann +online +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +1 +edge-0 +\{"status":"away"\}$/);
    expect(lines[2]).toMatch(/^cli-gone +offline +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +0 +- +-$/);
    expect(lines[3]).toMatch(/^cli-nobody +offline +never seen +0 +- +-$/);
  });

  it('prints the API objects with --json, and takes --api and --token instead of the environment', async () => {
    const result = await runPresence(['status', 'cli-ann', 'cli-nobody', '--json', '--api', stack.apiUrl, '--token', TOKEN]);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { clientId: string; online: boolean; sessions: { meta: unknown }[] }[];
    expect(parsed.map((p) => [p.clientId, p.online])).toEqual([
      ['cli-ann', true],
      ['cli-nobody', false],
    ]);
    expect(parsed[0]?.sessions[0]?.meta).toEqual({ status: 'away' });
  });
});

describe('presence list and stats', () => {
  it('lists online ids one per line, a page at a time with a hint, or all pages with --all', async () => {
    const page = await runPresence(['list', '--limit', '2'], env);
    expect(page.code).toBe(0);
    expect(page.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(page.stderr).toMatch(/^presence: more clients are online; next page: presence list --cursor '.+' \(or --all\)\n$/);
    const all = await runPresence(['list', '--all', '--limit', '2'], env);
    expect(all.stdout.trimEnd().split('\n').sort()).toEqual(['cli-ann', 'cli-bea', 'cli-cid']);
    const json = JSON.parse((await runPresence(['list', '--json'], env)).stdout) as { clients: string[]; nextCursor: string | null };
    expect({ clients: json.clients.sort(), nextCursor: json.nextCursor }).toEqual({
      clients: ['cli-ann', 'cli-bea', 'cli-cid'],
      nextCursor: null,
    });
  });

  it('prints totals and the nodes, or JSON', async () => {
    const result = await runPresence(['stats'], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^ONLINE CLIENTS +SESSIONS +NODES$/);
    expect(lines[1]).toMatch(/^3 +3 +1$/);
    expect(lines[3]).toMatch(/^NODE +SESSIONS +ALIVE +LAST SEEN$/);
    expect(lines[4]).toMatch(/^edge-0 +3 +yes +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const json = JSON.parse((await runPresence(['stats', '--json'], env)).stdout) as { onlineClients: number };
    expect(json.onlineClients).toBe(3);
  });
});

describe('errors: one line on stderr, exit 1 when the command fails, 2 for bad usage', () => {
  it('API unreachable: names the URL and the cause, no stack trace unless --verbose', async () => {
    const api = `http://127.0.0.1:${await freePort()}`;
    const result = await runPresence(['stats', '--api', api]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `presence: cannot reach the API at ${api} (ECONNREFUSED); is it running? (set --api or PRESENCE_API_URL)\n`,
    });
    const verbose = await runPresence(['stats', '--api', api, '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/^presence: cannot reach the API .*\nPresenceApiError: .*\n +at /);
  });

  it('unauthorized: a missing or wrong token', async (ctx) => {
    if (!authEnforced) ctx.skip(); // This API build does not check API_TOKENS.
    const missing = await runPresence(['stats', '--api', stack.apiUrl]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^presence: unauthorized: no token was given \(.*\); set --token or PRESENCE_API_TOKEN\n$/);
    const wrong = await runPresence(['status', 'cli-ann', '--token', 'wrong-token-0123456789'], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^presence: unauthorized: the token was refused/);
  });

  it('an id the server refuses is a failed command with the server reason', async () => {
    const result = await runPresence(['status', 'no spaces allowed'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^presence: .*must be 1-128 characters.* \(bad_client_id\)\n$/);
  });

  it.each([
    [['status'], /^presence: missing required argument 'clientId' \(see presence --help\)\n$/],
    [['list', '--limit', '0'], /^presence: option '--limit <n>' argument '0' is invalid\. must be a whole number from 1 to 1000/],
    [['watch', '--types', 'away'], /^presence: --types must be online, offline or online,offline \(got "away"\)\n$/],
    [['connect', 'x', '--state', '[1]'], /^presence: --state must be a JSON object, like '\{"status":"away"\}' \(got "\[1\]"\)\n$/],
    [['connect', 'x', '--port', '70000'], /^presence: option '--port <port>' argument '70000' is invalid/],
    [['connect', 'two words'], /^presence: clientId must be a non-empty string of printable ASCII without spaces\n$/],
    [['stats', '--api', 'localhost:8080'], /^presence: --api must be an http:\/\/ or https:\/\/ URL \(got "localhost:8080"\)\n$/],
    [['frobnicate'], /^presence: unknown command 'frobnicate'/],
  ])('%j is a usage error (exit 2)', async (args, stderr) => {
    const result = await runPresence(args, env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(stderr);
    expect(result.stderr).not.toMatch(/\n +at /);
  });

  it('--help and --version exit 0 on stdout', async () => {
    const help = await runPresence(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: presence \[options\] \[command\]/);
    expect(help.stdout).toMatch(/Exit codes: 0 done, 1 the command failed/);
    const version = await runPresence(['--version']);
    expect(version).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});
