import { request } from 'node:http';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_AUDIENCE, eventTokenKey } from '../../services/api/src/event-token.js';
import { fetchFresh } from '../support/fetch-fresh.js';
import { SseClient } from '../support/sse-client.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { WireClient } from '../support/wire-client.js';

const API_TOKENS = ['event-token-test-one-0123456789', 'event-token-test-two-9876543210'];
const TTL_MS = 1_000;

let stack: Stack;
/** Every token a test used: none may show up in the API's log. */
const used = new Set<string>(API_TOKENS);
const clients: WireClient[] = [];
const streams: SseClient[] = [];

beforeAll(async () => {
  stack = await Stack.start({
    redisUrl: testRedisUrl(),
    edges: 1,
    sweepers: 0,
    env: { API_TOKENS: API_TOKENS.join(','), EVENT_TOKEN_TTL_MS: String(TTL_MS), LOG_LEVEL: 'debug' },
  });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  for (const stream of streams) stream.close();
  // Checked last, over everything the file sent.
  const log = stack?.api?.log() ?? '';
  await stack?.stop();
  for (const token of used) expect(log, 'a token in the API log').not.toContain(token);
});

const bearer = { authorization: `Bearer ${API_TOKENS[1]}` };

async function mint(): Promise<{ token: string; expiresAt: number }> {
  const res = await fetchFresh(`${stack.apiUrl}/v1/events/token`, { method: 'POST', headers: bearer });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const minted = (await res.json()) as { token: string; expiresAt: number };
  used.add(minted.token);
  return minted;
}

/** GET /v1/events: a 200 is a stream that does not end, so it is closed at once; an error answer is read whole. */
function events(query: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.apiUrl}/v1/events?${query}`, { headers, agent: false }, (res) => {
      if (res.statusCode === 200) {
        req.destroy();
        resolve({ status: 200, body: null });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A JWT for the event stream as the API would sign it, with `claims` changed. */
async function signed(key: Uint8Array, claims: { aud?: string; expSec?: number; iss?: string }): Promise<string> {
  const now = Math.floor(Date.now() / 1_000);
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(claims.iss ?? 'presence-api')
    .setAudience(claims.aud ?? EVENTS_AUDIENCE)
    .setIssuedAt(now - 120)
    .setExpirationTime(claims.expSec ?? now + 60)
    .sign(key);
  used.add(token);
  return token;
}

describe('query tokens for the event stream (API_TOKENS set)', () => {
  it('POST /v1/events/token needs the bearer token, and answers a token that expires after EVENT_TOKEN_TTL_MS', async () => {
    const refused = await fetchFresh(`${stack.apiUrl}/v1/events/token`, { method: 'POST' });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const before = Date.now();
    const { expiresAt } = await mint();
    // Whole seconds, rounded up: at least the TTL, less than a second more.
    expect(expiresAt - before).toBeGreaterThanOrEqual(TTL_MS);
    expect(expiresAt - before).toBeLessThan(TTL_MS + 1_000 + 500);
  });

  it('opens GET /v1/events, which then delivers events past the token expiry', async () => {
    const { token, expiresAt } = await mint();
    const stream = await SseClient.open(`${stack.apiUrl}/v1/events?access_token=${encodeURIComponent(token)}&types=online`);
    streams.push(stream);
    expect(stream.status).toBe(200);
    // After the token expired, the open stream still receives (the token is checked when a stream opens).
    await waitFor(() => Date.now() > expiresAt + 100, { timeoutMs: TTL_MS + 2_000, what: 'the token to expire' });
    const { client } = await WireClient.session(stack.edges[0]!.port, 'token-tess');
    clients.push(client);
    await waitFor(() => stream.events<{ clientId: string }>().some((event) => event.clientId === 'token-tess'), {
      timeoutMs: 2_000,
      what: "token-tess's online event",
    });
  });

  it('refuses an expired token with 401 token_expired', async () => {
    const { token, expiresAt } = await mint();
    expect((await events(`access_token=${token}`)).status).toBe(200);
    await waitFor(() => Date.now() > expiresAt, { timeoutMs: TTL_MS + 2_000, what: 'the token to expire' });
    const answer = await events(`access_token=${token}`);
    expect(answer).toEqual({
      status: 401,
      body: { error: { code: 'token_expired', message: 'access_token has expired; get a new one from POST /v1/events/token' } },
    });
  });

  it('refuses a forged token (another key), a token for another audience or issuer, and garbage with 401 unauthorized', async () => {
    const right = eventTokenKey(API_TOKENS);
    const cases = {
      forged: await signed(new TextEncoder().encode('a-key-the-api-never-had-0123456789'), {}),
      'one API token as the key': await signed(new TextEncoder().encode(API_TOKENS[0]), {}),
      'wrong scope': await signed(right, { aud: 'presence:admin' }),
      'wrong issuer': await signed(right, { iss: 'someone-else' }),
      garbage: 'not.a.jwt',
    };
    used.add(cases.garbage);
    // The control: the right key and claims open the stream, so each refusal below is the change it names.
    expect((await events(`access_token=${await signed(right, {})}`)).status).toBe(200);
    for (const [name, token] of Object.entries(cases)) {
      const answer = await events(`access_token=${encodeURIComponent(token)}`);
      expect(answer.status, name).toBe(401);
      expect((answer.body as { error: { code: string } }).error.code, name).toBe('unauthorized');
    }
    const scope = await events(`access_token=${cases['wrong scope']}`);
    expect((scope.body as { error: { message: string } }).error.message).toBe(
      'access_token is not a token for the event stream (its aud is wrong)',
    );
    // The same token twice is refused too.
    const twice = await mint();
    expect((await events(`access_token=${twice.token}&access_token=${twice.token}`)).status).toBe(401);
  });

  it('opens nothing but GET /v1/events', async () => {
    const { token } = await mint();
    for (const path of ['/v1/stats', '/v1/presence/token-tess', '/v1/dashboard/nodes']) {
      const res = await fetchFresh(`${stack.apiUrl}${path}?access_token=${token}`);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
    const mintAgain = await fetchFresh(`${stack.apiUrl}/v1/events/token?access_token=${token}`, { method: 'POST' });
    expect(mintAgain.status).toBe(401);
    // The bearer token still works on the stream as before.
    expect((await events('types=online', bearer)).status).toBe(200);
  });
});
