import { ReplyError } from 'ioredis';
// ioredis defines this class but does not export it from its index; it fails the build, not the
// classification, if it ever moves.
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';

/** Redis error replies (their first word) that mean "not now": the cluster is re-forming, or Redis is loading its data. */
const UNAVAILABLE_REPLIES = new Set(['CLUSTERDOWN', 'TRYAGAIN', 'LOADING']);

/** Socket errors (Node's `code`) of a connection that could not be made or was cut. */
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET']);

/**
 * Errors ioredis 6 raises as plain `Error`s, with neither a class nor a code of their own: only their
 * exact text tells them apart (utils CONNECTION_CLOSED_ERROR_MSG, Redis.js, Command.js,
 * cluster/index.js).
 */
const UNAVAILABLE_MESSAGES = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Cluster isn't ready and enableOfflineQueue options is false",
  'None of startup nodes is available',
  // The commandTimeout option: Redis is hung or too slow.
  'Command timed out',
]);
/**
 * Starts of messages with details after them: a cluster command redirected (MOVED, ASK, TRYAGAIN, a
 * failed node) too often, the last error following; no sentinel could name the master (sentinel
 * mode, during a failover or with every sentinel down), the retry delay following.
 */
const UNAVAILABLE_PREFIXES = ['Too many Cluster redirections. ', 'All sentinels are unreachable'];

/**
 * True for the failures of a Redis that is down, unreachable, re-forming or too slow, as ioredis
 * reports them: a caller should answer "unavailable, retry" (the API's 503) rather than treat them
 * as a bug.
 */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof MaxRetriesPerRequestError) return true;
  // Every error reply of Redis is a ReplyError (redis-errors', which ioredis exports untyped).
  if (error instanceof ReplyError) return UNAVAILABLE_REPLIES.has(error.message.split(' ', 1)[0] ?? '');
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return UNAVAILABLE_SOCKET_CODES.has(code);
  return UNAVAILABLE_MESSAGES.has(error.message) || UNAVAILABLE_PREFIXES.some((prefix) => error.message.startsWith(prefix));
}
