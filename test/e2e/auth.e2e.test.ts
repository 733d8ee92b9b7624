import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtKeys, mintToken, nowSec, unsignedToken, type JwtKeys } from '../support/jwt-keys.js';
import { Stack, type EdgeProcess } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';
import { fetchFresh } from '../support/fetch-fresh.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const API_TOKENS = ['api-token-one-0123456789abcdef', 'api-token-two-fedcba9876543210'] as const;
const METRICS_TOKEN = 'metrics-token-0123456789';

let keys: JwtKeys;
let stack: Stack;
let hs: EdgeProcess;
let rs: EdgeProcess;
let es: EdgeProcess;
let jwks: EdgeProcess;
/** Every token any test sent: none may ever show up in an edge's log. */
const tokensSent = new Set<string>();

beforeAll(async () => {
  keys = await createJwtKeys();
  stack = await Stack.start({
    redisUrl: testRedisUrl(),
    edges: 0,
    sweepers: 0,
    env: { API_TOKENS: API_TOKENS.join(','), METRICS_TOKENS: METRICS_TOKEN },
  });
  [hs, rs, es, jwks] = await Promise.all([
    stack.addEdge({ AUTH_MODE: 'jwt', JWT_SECRET: keys.secret }),
    stack.addEdge({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY_FILE: keys.rsa.publicKeyFile }),
    stack.addEdge({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY_FILE: keys.ec.publicKeyFile }),
    stack.addEdge({ AUTH_MODE: 'jwt', JWT_JWKS_FILE: keys.jwksFile }),
  ]);
});

afterAll(async () => {
  await stack?.stop();
  if (keys !== undefined) rmSync(keys.dir, { recursive: true, force: true });
});

/** Sends `HELLO <clientId> [<token>]` and returns the first line the edge answers. */
async function hello(edge: EdgeProcess, clientId: string, token: string | null): Promise<{ client: WireClient; line: string }> {
  if (token !== null) tokensSent.add(token);
  const client = await WireClient.connect(edge.port);
  client.send(token === null ? `HELLO ${clientId}` : `HELLO ${clientId} ${token}`);
  return { client, line: await client.nextLine(5_000, false) };
}

async function accepted(edge: EdgeProcess, clientId: string, token: string): Promise<void> {
  const { client, line } = await hello(edge, clientId, token);
  expect(line).toMatch(/^WELCOME [0-9a-f]{20} \d+ \d+$/);
  client.send('PING');
  expect(await client.nextLine(3_000, false)).toBe('PONG');
  await client.bye();
}

/** The edge answers `ERR unauthorized <reason>` and closes. */
async function refused(edge: EdgeProcess, clientId: string, token: string | null, reason = 'token is not valid'): Promise<void> {
  const { client, line } = await hello(edge, clientId, token);
  expect(line).toBe(`ERR unauthorized ${reason}`);
  await client.closed;
}

describe('AUTH_MODE=jwt with JWT_SECRET (HS256)', () => {
  const hs256 = (sub: string | null, more: { exp?: number | null; key?: string; alg?: 'HS256' | 'HS384' } = {}) =>
    mintToken({ alg: more.alg ?? 'HS256', key: more.key ?? keys.secret, sub, ...(more.exp === undefined ? {} : { exp: more.exp }) });

  it('a valid token (sub = clientId, exp in 1 h) gets WELCOME', async () => {
    await accepted(hs, 'jwt-alice', await hs256('jwt-alice'));
  });

  it('a token expired less than JWT_CLOCK_TOLERANCE_SEC (5 s) ago is still accepted', async () => {
    await accepted(hs, 'jwt-skewed', await hs256('jwt-skewed', { exp: nowSec() - 2 }));
  });

  it('HELLO without a token gets ERR unauthorized and is closed', async () => {
    await refused(hs, 'jwt-anon', null, 'a token is required: HELLO <clientId> <token>');
  });

  it('a token for another clientId gets ERR unauthorized', async () => {
    await refused(hs, 'jwt-mallory', await hs256('jwt-alice'), 'token was issued for another clientId');
  });

  it('an expired token gets ERR unauthorized (token expired)', async () => {
    await refused(hs, 'jwt-late', await hs256('jwt-late', { exp: nowSec() - 3_600 }), 'token expired');
  });

  it.each([
    ['signed with another secret', () => hs256('jwt-forger', { key: 'x'.repeat(32) })],
    ['signed with HS384 (only HS256 is allowed)', () => hs256('jwt-forger', { alg: 'HS384' })],
    ['unsigned (alg: none)', async () => unsignedToken('jwt-forger')],
    ['without exp', () => hs256('jwt-forger', { exp: null })],
    ['with its signature cut off', async () => (await hs256('jwt-forger')).replace(/\.[^.]+$/, '.')],
    [
      'with a payload swapped for another sub',
      async () => {
        const [header, , signature] = (await hs256('someone-else')).split('.');
        const payload = Buffer.from(JSON.stringify({ sub: 'jwt-forger', exp: nowSec() + 3_600 })).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['that is not a JWT at all', async () => 'not-a-jwt'],
  ])('a token %s gets ERR unauthorized', async (_what, token) => {
    await refused(hs, 'jwt-forger', await token());
  });

  it('a token without sub gets ERR unauthorized', async () => {
    await refused(hs, 'jwt-nobody', await hs256(null));
  });

  it('a token not valid before an hour from now gets ERR unauthorized', async () => {
    const token = await mintToken({ alg: 'HS256', key: keys.secret, sub: 'jwt-early', extra: { nbf: nowSec() + 3_600 } });
    await refused(hs, 'jwt-early', token);
  });

  it('frames pipelined in the same write as HELLO are answered after WELCOME, in order', async () => {
    const token = await hs256('jwt-pipeliner');
    tokensSent.add(token);
    const client = await WireClient.connect(hs.port);
    client.write(`HELLO jwt-pipeliner ${token}\nPING\nPING {"room":"lobby"}\n\nPING\n`);
    const lines = [];
    for (let i = 0; i < 4; i += 1) lines.push(await client.nextLine(5_000, false));
    expect(lines[0]).toMatch(/^WELCOME [0-9a-f]{20} \d+ \d+$/);
    expect(lines.slice(1)).toEqual(['PONG', 'PONG', 'PONG']);
    await client.bye();
  });

  it('more than 32 frames pipelined behind HELLO, before its token is checked, get ERR rate_limited (docs/protocol.md: more than 32 frames before WELCOME)', async () => {
    const token = await hs256('jwt-impatient');
    tokensSent.add(token);
    const client = await WireClient.connect(hs.port);
    client.write(`HELLO jwt-impatient ${token}\n${'PING\n'.repeat(33)}`);
    expect(await client.nextLine(5_000, false)).toBe('ERR rate_limited too many frames before WELCOME');
    await client.closed;
  });

  it('frames pipelined behind a refused HELLO are never answered', async () => {
    const token = await hs256('someone-else');
    tokensSent.add(token);
    const client = await WireClient.connect(hs.port);
    client.write(`HELLO jwt-pipeliner-2 ${token}\nPING\nPING\n`);
    expect(await client.nextLine(5_000, false)).toBe('ERR unauthorized token was issued for another clientId');
    await client.closed;
    await expect(client.nextLine(100, false)).rejects.toThrow('connection closed');
  });
});

describe('AUTH_MODE=jwt with JWT_PUBLIC_KEY_FILE', () => {
  it('RSA public key: an RS256 token signed by its private key gets WELCOME', async () => {
    await accepted(rs, 'rsa-alice', await mintToken({ alg: 'RS256', key: keys.rsa.privateKey, sub: 'rsa-alice' }));
  });

  it('RSA public key: a token signed by another RSA key, an ES256 token, or an HS256 token keyed with the PEM text gets ERR unauthorized', async () => {
    await refused(rs, 'rsa-forger', await mintToken({ alg: 'RS256', key: keys.jwksRsa.privateKey, sub: 'rsa-forger' }));
    await refused(rs, 'rsa-forger', await mintToken({ alg: 'ES256', key: keys.ec.privateKey, sub: 'rsa-forger' }));
    // Algorithm confusion: the public key is public, so an HMAC keyed with it proves nothing.
    const pem = keys.rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await refused(rs, 'rsa-forger', await mintToken({ alg: 'HS256', key: pem, sub: 'rsa-forger' }));
  });

  it('EC P-256 public key: an ES256 token signed by its private key gets WELCOME; an RS256 one does not', async () => {
    await accepted(es, 'ec-alice', await mintToken({ alg: 'ES256', key: keys.ec.privateKey, sub: 'ec-alice' }));
    await refused(es, 'ec-forger', await mintToken({ alg: 'RS256', key: keys.rsa.privateKey, sub: 'ec-forger' }));
    await refused(es, 'ec-forger', await mintToken({ alg: 'ES256', key: keys.jwksEc.privateKey, sub: 'ec-forger' }));
  });
});

describe('AUTH_MODE=jwt with JWT_JWKS_FILE', () => {
  it('tokens are checked with the key their kid names: RS256 and ES256 keys of the set both work', async () => {
    await accepted(
      jwks,
      'jwks-rsa',
      await mintToken({ alg: 'RS256', key: keys.jwksRsa.privateKey, kid: keys.jwksRsa.kid, sub: 'jwks-rsa' }),
    );
    await accepted(jwks, 'jwks-ec', await mintToken({ alg: 'ES256', key: keys.jwksEc.privateKey, kid: keys.jwksEc.kid, sub: 'jwks-ec' }));
  });

  it('an unknown kid, a kid naming another key than the signer, or a kid of the wrong algorithm gets ERR unauthorized', async () => {
    await refused(
      jwks,
      'jwks-forger',
      await mintToken({ alg: 'RS256', key: keys.jwksRsa.privateKey, kid: 'retired-key', sub: 'jwks-forger' }),
    );
    await refused(
      jwks,
      'jwks-forger',
      await mintToken({ alg: 'RS256', key: keys.rsa.privateKey, kid: keys.jwksRsa.kid, sub: 'jwks-forger' }),
    );
    await refused(
      jwks,
      'jwks-forger',
      await mintToken({ alg: 'ES256', key: keys.jwksEc.privateKey, kid: keys.jwksRsa.kid, sub: 'jwks-forger' }),
    );
  });
});

describe('tokens and logs', () => {
  it('no token, accepted or refused, ever appears in an edge log', async () => {
    expect(tokensSent.size).toBeGreaterThan(20);
    // The log is written: every refusal above is there (with its code, without its token).
    await waitFor(() => hs.log().includes('"code":"unauthorized"'), { what: 'the refusals to be logged' });
    for (const edge of [hs, rs, es, jwks]) {
      const log = edge.log();
      expect(log).toContain('session started');
      for (const token of tokensSent) {
        expect(log.includes(token), `${edge.name} logged a token`).toBe(false);
        // Nor any of its signature, which is what makes a token usable.
        const signature = token.split('.')[2] ?? '';
        if (signature.length >= 16) expect(log.includes(signature), `${edge.name} logged a signature`).toBe(false);
      }
    }
  });
});

describe('bad auth configuration', () => {
  const runEdge = (env: Record<string, string>) =>
    spawnSync(process.execPath, [`${ROOT}services/edge/dist/main.js`], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
  const noKey = 'config: AUTH_MODE jwt needs exactly one of JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE (got "jwt")\n';

  it('AUTH_MODE=jwt without a key stops the edge with one config line and exit code 1', () => {
    const result = runEdge({ AUTH_MODE: 'jwt' });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(noKey);
  });

  it('AUTH_MODE=jwt with two keys stops the edge the same way', () => {
    const result = runEdge({ AUTH_MODE: 'jwt', JWT_SECRET: keys.secret, JWT_JWKS_FILE: keys.jwksFile });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(noKey);
  });

  it('a JWT_SECRET shorter than 32 characters stops the edge with one line naming the variable', () => {
    const result = runEdge({ AUTH_MODE: 'jwt', JWT_SECRET: 'too-short-secret' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^config: JWT_SECRET must be at least 32 characters.*\n$/);
  });

  it('a rejected JWT_SECRET is not echoed in the config error', () => {
    const result = runEdge({ AUTH_MODE: 'jwt', JWT_SECRET: 'too-short-secret' });
    expect(result.stderr).not.toContain('too-short-secret');
  });

  it('a JWT_PUBLIC_KEY_FILE that does not exist stops the edge with exit code 1, naming the file', () => {
    const missing = join(keys.dir, 'missing.pem');
    const result = runEdge({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY_FILE: missing });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(missing);
  });

  it('a JWT_PUBLIC_KEY_FILE that does not exist is reported on one config line', () => {
    const result = runEdge({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY_FILE: join(keys.dir, 'missing.pem') });
    expect(result.stderr).toMatch(/^config: JWT_PUBLIC_KEY_FILE [^\n]*\n$/);
  });
});

describe('API bearer tokens (API_TOKENS, METRICS_TOKENS)', () => {
  const get = (path: string, token?: string) =>
    fetchFresh(`${stack.apiUrl}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

  async function unauthorized(res: Response, realm: string): Promise<void> {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}"`);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(typeof body.error.message).toBe('string');
  }

  it('/v1/* without a token is 401 JSON with a WWW-Authenticate header', async () => {
    for (const path of ['/v1/stats', '/v1/presence/alice', '/v1/presence?limit=1', '/v1/events', '/v1/no-such-route']) {
      await unauthorized(await get(path), 'presence');
    }
    const post = await fetchFresh(`${stack.apiUrl}/v1/presence/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"clientIds":["alice"]}',
    });
    await unauthorized(post, 'presence');
  });

  it('/v1/* with a wrong, malformed or metrics-only token is 401', async () => {
    for (const token of ['wrong-token-0123456789', `${API_TOKENS[0]}x`, API_TOKENS[0].slice(0, -1), METRICS_TOKEN]) {
      await unauthorized(await get('/v1/stats', token), 'presence');
    }
    for (const header of [API_TOKENS[0], `Basic ${API_TOKENS[0]}`, `Bearer  ${API_TOKENS[0]}`, `Bearer ${API_TOKENS[0]} extra`, 'Bearer']) {
      await unauthorized(await fetchFresh(`${stack.apiUrl}/v1/stats`, { headers: { authorization: header } }), 'presence');
    }
  });

  it('/v1/* with either configured token is 200', async () => {
    for (const token of API_TOKENS) {
      const stats = await get('/v1/stats', token);
      expect(stats.status).toBe(200);
      expect(await stats.json()).toMatchObject({ onlineClients: expect.any(Number) });
      expect((await get('/v1/presence/alice', token)).status).toBe(200);
      const query = await fetchFresh(`${stack.apiUrl}/v1/presence/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{"clientIds":["alice"]}',
      });
      expect(query.status).toBe(200);
      // The scheme is case-insensitive (RFC 7235).
      const lower = await fetchFresh(`${stack.apiUrl}/v1/stats`, { headers: { authorization: `bearer ${token}` } });
      expect(lower.status).toBe(200);
    }
    // A route that does not exist is 404 only once authenticated.
    const missing = await get('/v1/no-such-route', API_TOKENS[1]);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('/healthz and /readyz are open', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('/metrics is 401 without its token (or with an API token) and 200 with it', async () => {
    await unauthorized(await get('/metrics'), 'metrics');
    await unauthorized(await get('/metrics', API_TOKENS[0]), 'metrics');
    const res = await get('/metrics', METRICS_TOKEN);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('presence_api_request_seconds');
  });
});
