import { SignJWT } from 'jose';

/**
 * Prints an HS256 token for HELLO, signed with JWT_SECRET, for local use and demos:
 *   JWT_SECRET=... node services/edge/dist/mint-token.js <clientId> [ttlSeconds]
 * In docker compose: docker compose exec edge node services/edge/dist/mint-token.js alice
 * Production tokens come from your own auth service, signed with the same secret or key.
 */
const [clientId, ttlArg = '3600'] = process.argv.slice(2);
const secret = process.env.JWT_SECRET;
if (clientId === undefined || !/^[A-Za-z0-9._:@-]{1,128}$/.test(clientId) || !/^\d+$/.test(ttlArg)) {
  process.stderr.write('usage: mint-token <clientId> [ttlSeconds]\n');
  process.exit(2);
}
if (secret === undefined || secret.length < 32) {
  process.stderr.write('mint-token: JWT_SECRET must be set (at least 32 characters)\n');
  process.exit(1);
}
const token = await new SignJWT({})
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject(clientId)
  .setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + Number(ttlArg))
  .sign(new TextEncoder().encode(secret));
process.stdout.write(`${token}\n`);
