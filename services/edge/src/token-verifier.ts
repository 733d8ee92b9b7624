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

/** A key setting can't be used; `message` names the variable, for a one-line config error. */
export class KeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyConfigError';
  }
}

function readKeyFile(variable: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeyConfigError(`${variable} cannot be read: ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** "rsa", "ec prime256v1", …: what a key file held, for the error message. */
function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''}`;
}

/** The one algorithm a public key may verify: RS256 for RSA, ES256 for an EC P-256 key. */
function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new KeyConfigError(`JWT_PUBLIC_KEY_FILE must hold an RSA (RS256) or EC P-256 (ES256) public key (got ${describeKey(key)})`);
}

/** Why a token was refused; never contains the token. */
export class TokenRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRejected';
  }
}

/** What a good token grants beyond its clientId. */
export interface TokenGrant {
  /** The `channels` claim: channel names, or `prefix*` patterns, the client may join; null without one (every channel). */
  channels: readonly string[] | null;
}

/** Resolves with the token's grant (a verifier that grants nothing in particular may resolve with nothing). */
export type TokenVerifier = (token: string | null, clientId: string) => Promise<TokenGrant | void>;

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
    const pem = readKeyFile('JWT_PUBLIC_KEY_FILE', options.publicKeyFile);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(pem);
    } catch {
      throw new KeyConfigError(`JWT_PUBLIC_KEY_FILE is not a PEM public key: ${options.publicKeyFile}`);
    }
    algorithms = [algorithmOf(publicKey)];
    key = publicKey;
  } else if (options.jwksFile !== undefined) {
    const text = readKeyFile('JWT_JWKS_FILE', options.jwksFile);
    let jwks: { keys?: unknown };
    try {
      jwks = JSON.parse(text) as { keys?: unknown };
    } catch {
      throw new KeyConfigError(`JWT_JWKS_FILE is not JSON: ${options.jwksFile}`);
    }
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
      throw new KeyConfigError(`JWT_JWKS_FILE must be a JWK Set with at least one key ({"keys":[...]}): ${options.jwksFile}`);
    }
    try {
      key = createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
    } catch (error) {
      throw new KeyConfigError(`JWT_JWKS_FILE is not a valid JWK Set: ${(error as Error).message}`);
    }
    algorithms = ['RS256', 'ES256'];
  } else {
    throw new Error('a JWT secret, public key or JWKS file is required');
  }
  return async (token, clientId) => {
    if (token === null) throw new TokenRejected('a token is required: HELLO <clientId> <token>');
    let sub: unknown;
    let channels: unknown;
    try {
      const verified = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: options.clockToleranceSec,
      });
      sub = verified.payload.sub;
      channels = verified.payload['channels'];
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new TokenRejected(code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'token is not valid');
    }
    if (sub !== clientId) throw new TokenRejected('token was issued for another clientId');
    if (channels === undefined) return { channels: null };
    if (!Array.isArray(channels) || !channels.every((rule) => typeof rule === 'string')) {
      throw new TokenRejected('the channels claim must be a list of channel names or prefix* patterns');
    }
    return { channels };
  };
}
