import { hkdfSync, randomBytes } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { SignJWT, errors, jwtVerify } from 'jose';
import { bearerAuth } from './bearer-auth.js';
import { HttpError, sendError } from './http-errors.js';

/**
 * Short-lived query tokens for the SSE event stream (README, "Authentication"). A browser's
 * EventSource cannot send an Authorization header, so a page trades its bearer token for one of
 * these (POST /v1/events/token) and opens `GET /v1/events?access_token=<token>`. A token is an
 * HS256 JWT whose audience is the event stream, so it opens nothing else, and which expires after
 * EVENT_TOKEN_TTL_MS (60 s): it is only checked when a stream opens, which may then run for hours.
 *
 * The key is derived (HKDF) from the whole set of API_TOKENS, so every API replica with the same
 * tokens accepts the tokens the others mint, no new secret is needed, and changing API_TOKENS
 * invalidates every query token. Knowing one bearer token is not enough to forge them.
 */

/** The query parameter that carries the token, accepted on GET /v1/events only. */
export const ACCESS_TOKEN_PARAM = 'access_token';
/** The `aud` of an event-stream token: a JWT for anything else is refused. */
export const EVENTS_AUDIENCE = 'presence:events';
const ISSUER = 'presence-api';

/** The HMAC key of query tokens for this set of API tokens (random per process when there are none: nothing checks them then). */
export function eventTokenKey(apiTokens: readonly string[]): Uint8Array {
  if (apiTokens.length === 0) return randomBytes(32);
  const material = [...apiTokens].sort().join('\n');
  return new Uint8Array(hkdfSync('sha256', material, 'presence', 'events query token v1', 32));
}

export interface MintedToken {
  token: string;
  /** When it stops opening streams (ms since the epoch, this server's clock). */
  expiresAt: number;
}

export class EventTokens {
  private readonly key: Uint8Array;
  readonly ttlMs: number;

  constructor(apiTokens: readonly string[], ttlMs: number) {
    this.key = eventTokenKey(apiTokens);
    this.ttlMs = ttlMs;
  }

  async mint(): Promise<MintedToken> {
    // JWT times are whole seconds: round up, so a token never lives shorter than the TTL.
    const expiresAt = Math.ceil((Date.now() + this.ttlMs) / 1_000) * 1_000;
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(EVENTS_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(expiresAt / 1_000)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** Resolves for a token this API minted for the event stream and that has not expired; else a 401 HttpError. */
  async verify(token: string): Promise<void> {
    try {
      await jwtVerify(token, this.key, { algorithms: ['HS256'], issuer: ISSUER, audience: EVENTS_AUDIENCE });
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        throw new HttpError(401, 'token_expired', `${ACCESS_TOKEN_PARAM} has expired; get a new one from POST /v1/events/token`);
      }
      if (error instanceof errors.JWTClaimValidationFailed) {
        throw new HttpError(401, 'unauthorized', `${ACCESS_TOKEN_PARAM} is not a token for the event stream (its ${error.claim} is wrong)`);
      }
      throw new HttpError(401, 'unauthorized', `${ACCESS_TOKEN_PARAM} is not a valid token from POST /v1/events/token`);
    }
  }
}

/** `url` without its access_token parameter, so that nothing downstream (a log line, an error) sees the token. */
export function withoutAccessToken(url: string): string {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return url;
  const params = new URLSearchParams(url.slice(queryAt + 1));
  if (!params.has(ACCESS_TOKEN_PARAM)) return url;
  params.delete(ACCESS_TOKEN_PARAM);
  const rest = params.toString();
  return rest === '' ? url.slice(0, queryAt) : `${url.slice(0, queryAt)}?${rest}`;
}

/** Removes the token from the request's URL (express reads `query` from `url` on every access). */
function stripAccessToken(req: Request): void {
  req.url = withoutAccessToken(req.url);
  req.originalUrl = withoutAccessToken(req.originalUrl);
}

/**
 * The check on /v1 (mounted there) when API_TOKENS is set: a bearer token, or, on GET /v1/events
 * only and without an Authorization header, a query token from POST /v1/events/token. Elsewhere an
 * access_token parameter is ignored (and so the bearer check refuses the request).
 */
export function apiAuth(apiTokens: readonly string[], tokens: EventTokens): RequestHandler {
  const bearer = bearerAuth(apiTokens, 'presence');
  return (req, res, next) => {
    const queryToken =
      req.method === 'GET' && req.path === '/events' && req.get('authorization') === undefined ? req.query[ACCESS_TOKEN_PARAM] : undefined;
    if (queryToken === undefined) {
      if (req.url.includes(ACCESS_TOKEN_PARAM)) stripAccessToken(req);
      return bearer(req, res, next);
    }
    stripAccessToken(req);
    if (typeof queryToken !== 'string') return sendError(res, 401, 'unauthorized', `give ${ACCESS_TOKEN_PARAM} once`);
    tokens.verify(queryToken).then(
      () => next(),
      (error: HttpError) => {
        res.set('www-authenticate', 'Bearer realm="presence"');
        sendError(res, error.status, error.code, error.message);
      },
    );
  };
}
