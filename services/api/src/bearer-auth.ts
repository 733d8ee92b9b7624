import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { sendError } from './http-errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Requires `Authorization: Bearer <token>` with one of `tokens`. Tokens are compared as SHA-256
 * digests with timingSafeEqual, against every configured token (no early exit), so neither the
 * length nor the content of a token leaks through timing. An empty list lets every request in.
 */
export function bearerAuth(tokens: readonly string[], realm: string): RequestHandler {
  const expected = tokens.map(digest);
  return (req, res, next) => {
    if (expected.length === 0) return next();
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    let ok = false;
    if (match !== null) {
      const given = digest(match[1] as string);
      for (const token of expected) ok = timingSafeEqual(given, token) || ok;
    }
    if (ok) return next();
    res.set('www-authenticate', `Bearer realm="${realm}"`);
    return sendError(res, 401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)');
  };
}
