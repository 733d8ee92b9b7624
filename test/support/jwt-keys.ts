import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';

export interface KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  /** The public key as a PEM (SPKI) file, for JWT_PUBLIC_KEY_FILE. */
  publicKeyFile: string;
}

/** Test keys for every kind of key the edge accepts, written to a temporary directory. */
export interface JwtKeys {
  dir: string;
  /** HS256 shared secret, for JWT_SECRET. */
  secret: string;
  rsa: KeyPair;
  ec: KeyPair;
  /** A JWKS file (JWT_JWKS_FILE) holding the public halves of `jwksRsa` and `jwksEc`. */
  jwksFile: string;
  jwksRsa: KeyPair & { kid: string };
  jwksEc: KeyPair & { kid: string };
}

function keyPair(dir: string, name: string, kind: 'rsa' | 'ec'): KeyPair {
  const { publicKey, privateKey } =
    kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyFile = join(dir, `${name}.pem`);
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { publicKey, privateKey, publicKeyFile };
}

export async function createJwtKeys(): Promise<JwtKeys> {
  const dir = mkdtempSync(join(tmpdir(), 'presence-jwt-'));
  const jwksRsa = { ...keyPair(dir, 'jwks-rsa', 'rsa'), kid: 'rsa-2026' };
  const jwksEc = { ...keyPair(dir, 'jwks-ec', 'ec'), kid: 'ec-2026' };
  const jwksFile = join(dir, 'jwks.json');
  const keys = [
    { ...(await exportJWK(jwksRsa.publicKey)), kid: jwksRsa.kid, alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(jwksEc.publicKey)), kid: jwksEc.kid, alg: 'ES256', use: 'sig' },
  ];
  writeFileSync(jwksFile, JSON.stringify({ keys }));
  return {
    dir,
    secret: randomBytes(32).toString('base64url'),
    rsa: keyPair(dir, 'rsa', 'rsa'),
    ec: keyPair(dir, 'ec', 'ec'),
    jwksFile,
    jwksRsa,
    jwksEc,
  };
}

export interface MintOptions {
  alg: 'HS256' | 'HS384' | 'RS256' | 'ES256';
  key: KeyObject | string;
  /** `sub`; omitted when null. */
  sub: string | null;
  /** `exp` in seconds since the epoch; omitted when null. Default: in one hour. */
  exp?: number | null;
  kid?: string;
  extra?: JWTPayload;
}

/** Now, in the seconds JWT claims use. */
export const nowSec = (): number => Math.floor(Date.now() / 1000);

/** Signs a JWT as an identity provider would. */
export async function mintToken(options: MintOptions): Promise<string> {
  const jwt = new SignJWT({ ...options.extra })
    .setProtectedHeader({ alg: options.alg, typ: 'JWT', ...(options.kid === undefined ? {} : { kid: options.kid }) })
    .setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub);
  const exp = options.exp === undefined ? nowSec() + 3_600 : options.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  const key = typeof options.key === 'string' ? new TextEncoder().encode(options.key) : options.key;
  return jwt.sign(key);
}

/** An unsecured JWT (`alg: none`, empty signature), which no verifier may accept. */
export function unsignedToken(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: nowSec() + 3_600 })}.`;
}
