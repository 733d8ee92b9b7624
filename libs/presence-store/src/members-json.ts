import { SESSION_MEMBER_SEPARATOR, sessionMember } from '@presence/wire-format';
import type { SessionRef } from './types.js';

const OPEN = '['.charCodeAt(0);
const CLOSE = ']'.charCodeAt(0);
const COMMA = ','.charCodeAt(0);
const QUOTE = '"'.charCodeAt(0);
const SEPARATOR = SESSION_MEMBER_SEPARATOR.charCodeAt(0);

/**
 * The deadlines-set members of `sessions[start..end)` as a JSON array of strings, written straight
 * into a Buffer: the bytes of `JSON.stringify(members)`. A refresh carries every session an edge
 * holds (~50 bytes each, 900 KB at 18,000 sessions every SESSION_REFRESH_MS); built as JS strings
 * (a member string per session, or one protocol string per argument in ioredis), that payload
 * filled the young generation mid-refresh and was promoted with everything in flight, growing the
 * old generation between major GCs. Ids are validated and need no escaping; a session whose ids
 * would is encoded by JSON.stringify all the same.
 */
export function sessionMembersJson(sessions: readonly SessionRef[], start = 0, end = sessions.length): Buffer {
  let length = 2 + Math.max(0, end - start - 1);
  for (let i = start; i < end; i += 1) {
    const { sessionId, clientId } = sessions[i] as SessionRef;
    if (needsEscape(sessionId) || needsEscape(clientId)) return escapedMembersJson(sessions, start, end);
    length += Buffer.byteLength(sessionId) + Buffer.byteLength(clientId) + 3;
  }
  const buffer = Buffer.allocUnsafe(length);
  let offset = 0;
  buffer[offset++] = OPEN;
  for (let i = start; i < end; i += 1) {
    const { sessionId, clientId } = sessions[i] as SessionRef;
    if (i > start) buffer[offset++] = COMMA;
    buffer[offset++] = QUOTE;
    offset += buffer.write(sessionId, offset);
    buffer[offset++] = SEPARATOR;
    offset += buffer.write(clientId, offset);
    buffer[offset++] = QUOTE;
  }
  buffer[offset] = CLOSE;
  return buffer;
}

function escapedMembersJson(sessions: readonly SessionRef[], start: number, end: number): Buffer {
  const members = sessions.slice(start, end).map(({ sessionId, clientId }) => sessionMember(sessionId, clientId));
  return Buffer.from(JSON.stringify(members), 'utf8');
}

function needsEscape(value: string): boolean {
  // Quote, backslash, control characters and lone surrogates: what JSON.stringify escapes.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return /["\\\u0000-\u001f\ud800-\udfff]/.test(value);
}
