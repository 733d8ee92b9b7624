import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';

export interface TokenVerifierOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** PEM file with an RSA or EC public key (RS256 / ES256). */
  publicKeyFile?: string;
  /** JSON Web Key Set file (keys picked by `kid`). */
  jwksFile?: string;
  /** Allowed clock skew when checking `exp`/`nbf`, in seconds. */
  clockToleranceSec: number;
}

/** Why a token was refused; never contains the token. */
export class TokenRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRejected';
  }
}

export type TokenVerifier = (token: string | null, clientId: string) => Promise<void>;

/**
 * Checks HELLO tokens: a JWT whose `sub` is the clientId and which has an `exp` in the future,
 * signed with the configured HS256 secret, RS256/ES256 public key or JWKS. Keys are loaded once.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.secret !== undefined) {
    key = new TextEncoder().encode(options.secret);
    algorithms = ['HS256'];
  } else if (options.publicKeyFile !== undefined) {
    key = createPublicKey(readFileSync(options.publicKeyFile, 'utf8'));
    algorithms = key.asymmetricKeyType === 'ec' ? ['ES256'] : ['RS256'];
  } else if (options.jwksFile !== undefined) {
    key = createLocalJWKSet(JSON.parse(readFileSync(options.jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0]);
    algorithms = ['RS256', 'ES256'];
  } else {
    throw new Error('a JWT secret, public key or JWKS file is required');
  }
  return async (token, clientId) => {
    if (token === null) throw new TokenRejected('a token is required: HELLO <clientId> <token>');
    let sub: unknown;
    try {
      const verified = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: options.clockToleranceSec,
      });
      sub = verified.payload.sub;
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new TokenRejected(code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'token is not valid');
    }
    if (sub !== clientId) throw new TokenRejected('token was issued for another clientId');
  };
}
