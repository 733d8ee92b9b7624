import { ScriptReplyError } from './errors.js';

/**
 * Checks each script's reply against the shape its header promises before anything reads it, so
 * that a Lua change without the matching change here fails loudly, naming the script, instead of
 * turning into NaN, a wrong index or a missing event id further on. (Lua `false` arrives as null;
 * Lua numbers as integers; ZSCORE and HGET results, passed through, as strings.)
 */

function fail(script: string, message: string): never {
  throw new ScriptReplyError(script, message);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function list(script: string, reply: unknown, check: (length: number) => boolean, expected: string): unknown[] {
  if (!Array.isArray(reply) || !check(reply.length)) fail(script, `replied ${describe(reply)}, expected ${expected}`);
  return reply;
}

function integer(script: string, value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(script, `${what} is ${describe(value)}, expected an integer`);
  return value;
}

function flag(script: string, value: unknown, what: string): boolean {
  if (value !== 0 && value !== 1) fail(script, `${what} is ${describe(value)}, expected 0 or 1`);
  return value === 1;
}

/** A number Redis passed through as a string (a score, a hash value) or as an integer; null for none. */
function optionalNumber(script: string, value: unknown, what: string): number | null {
  if (value === null) return null;
  const number = typeof value === 'string' && value !== '' ? Number(value) : typeof value === 'number' ? value : NaN;
  if (!Number.isFinite(number)) fail(script, `${what} is ${describe(value)}, expected a number or nothing`);
  return number;
}

function optionalString(script: string, value: unknown, what: string): string | null {
  if (value !== null && typeof value !== 'string') fail(script, `${what} is ${describe(value)}, expected a string or nothing`);
  return value;
}

function string(script: string, value: unknown, what: string): string {
  if (typeof value !== 'string') fail(script, `${what} is ${describe(value)}, expected a string`);
  return value;
}

/** add-session-7: `{ now, online event id or false, error code or false }`. */
export function addSessionReply(reply: unknown): { now: number; eventId: string | null; rejected: 'too_many_sessions' | null } {
  const script = 'add-session-7';
  const [now, eventId, rejected] = list(script, reply, (length) => length === 3, '{ now, event id, error code }');
  if (rejected !== null && rejected !== 'too_many_sessions') fail(script, `error code ${describe(rejected)} is not one it may return`);
  return { now: integer(script, now, 'now'), eventId: optionalString(script, eventId, 'the event id'), rejected };
}

/** remove-sessions-6: `{ now, then per session: offline event id or false, 1 if it existed else 0 }`. */
export function removeSessionsReply(
  reply: unknown,
  sessions: number,
): { now: number; ended: { eventId: string | null; existed: boolean }[] } {
  const script = 'remove-sessions-6';
  const values = list(script, reply, (length) => length === 1 + 2 * sessions, `{ now } and two values for each of ${sessions} sessions`);
  const ended = [];
  for (let i = 0; i < sessions; i += 1) {
    ended.push({
      eventId: optionalString(script, values[1 + 2 * i], `session ${i + 1}'s event id`),
      existed: flag(script, values[2 + 2 * i], `session ${i + 1}'s existed flag`),
    });
  }
  return { now: integer(script, values[0], 'now'), ended };
}

/** sweep-6: `{ now, removed, gone offline, more, earliest deadline or -1, late }`. */
export function sweepReply(reply: unknown): {
  now: number;
  removed: number;
  offline: number;
  more: boolean;
  nextDeadline: number | null;
  late: boolean;
} {
  const script = 'sweep-6';
  const [now, removed, offline, more, nextDeadline, late] = list(script, reply, (length) => length === 6, 'six integers');
  const next = integer(script, nextDeadline, 'the earliest deadline');
  return {
    now: integer(script, now, 'now'),
    removed: integer(script, removed, 'the sessions removed'),
    offline: integer(script, offline, 'the clients gone offline'),
    more: flag(script, more, 'more'),
    nextDeadline: next < 0 ? null : next,
    late: flag(script, late, 'late'),
  };
}

/** refresh-1: `{ now, index (1-based) of each missing member }`; returns the missing ones 0-based. */
export function refreshReply(reply: unknown, members: number): { now: number; missing: number[] } {
  const script = 'refresh-1';
  const [now, ...indexes] = list(script, reply, (length) => length >= 1 && length <= 1 + members, `{ now } and up to ${members} indexes`);
  const missing = indexes.map((index) => {
    const position = integer(script, index, 'a missing index');
    if (position < 1 || position > members) fail(script, `missing index ${position} is outside 1..${members}`);
    return position - 1;
  });
  return { now: integer(script, now, 'now'), missing };
}

/** set-state-2: 1 if stored, 0 if the session is gone. */
export function setStateReply(reply: unknown): boolean {
  return flag('set-state-2', reply, 'the reply');
}

/**
 * read-client-5: `{ now, online since or false, last seen or false, then per session: sessionId,
 * record JSON, deadline or false, state JSON or false }`.
 */
export function readClientReply(reply: unknown): {
  now: number;
  onlineSince: number | null;
  lastSeenAt: number | null;
  sessions: { sessionId: string; record: string; deadline: number | null; stateJson: string | null }[];
} {
  const script = 'read-client-5';
  const values = list(
    script,
    reply,
    (length) => length >= 3 && (length - 3) % 4 === 0,
    '{ now, since, last seen } and four values per session',
  );
  const sessions = [];
  for (let i = 3; i < values.length; i += 4) {
    sessions.push({
      sessionId: string(script, values[i], `reply[${i}] (a session id)`),
      record: string(script, values[i + 1], `reply[${i + 1}] (a session record)`),
      deadline: optionalNumber(script, values[i + 2], `reply[${i + 2}] (a deadline)`),
      stateJson: optionalString(script, values[i + 3], `reply[${i + 3}] (a state)`),
    });
  }
  return {
    now: integer(script, values[0], 'now'),
    onlineSince: optionalNumber(script, values[1], 'online since'),
    lastSeenAt: optionalNumber(script, values[2], 'last seen'),
    sessions,
  };
}

/** query-2: `{ now, online flag x n, last seen or false x n }` for n client ids. */
export function queryReply(reply: unknown, clients: number): { now: number; online: boolean[]; lastSeenAt: (number | null)[] } {
  const script = 'query-2';
  const values = list(script, reply, (length) => length === 1 + 2 * clients, `{ now } and two values for each of ${clients} clients`);
  const online: boolean[] = [];
  const lastSeenAt: (number | null)[] = [];
  for (let i = 0; i < clients; i += 1) {
    online.push(flag(script, values[1 + i], `client ${i + 1}'s online flag`));
    lastSeenAt.push(optionalNumber(script, values[1 + clients + i], `client ${i + 1}'s last seen`));
  }
  return { now: integer(script, values[0], 'now'), online, lastSeenAt };
}

/** node-beat-2: now. */
export function nodeBeatReply(reply: unknown): number {
  return integer('node-beat-2', reply, 'the reply');
}

/** track-channel-1: `{ status, channels listed }`. */
export function trackChannelReply(reply: unknown): { status: 'ok' | 'gone' | 'too_many_channels'; channels: number } {
  const script = 'track-channel-1';
  const [status, channels] = list(script, reply, (length) => length === 2, '{ status, channels }');
  if (status !== 'ok' && status !== 'gone' && status !== 'too_many_channels')
    fail(script, `status ${describe(status)} is not one it may return`);
  return { status, channels: integer(script, channels, 'channels') };
}

/** channel-join-6, channel-leave-6, channel-set-4: `{ status, clients, sessions, event id or false }`. */
export function channelWriteReply<Status extends string>(
  script: string,
  statuses: readonly Status[],
  reply: unknown,
): { status: Status; clients: number; sessions: number; eventId: string | null } {
  const [status, clients, sessions, eventId] = list(script, reply, (length) => length === 4, '{ status, clients, sessions, event id }');
  if (!statuses.includes(status as Status)) fail(script, `status ${describe(status)} is not one it may return`);
  return {
    status: status as Status,
    clients: integer(script, clients, 'clients'),
    sessions: integer(script, sessions, 'sessions'),
    eventId: optionalString(script, eventId, 'the event id'),
  };
}

/**
 * channel-members-3: `{ clients, sessions, more, the page's last clientId or false, then
 * `<clientId>|<sessionId>`, record JSON, ... }` in client order, grouped here by client.
 */
export function channelMembersReply(reply: unknown): {
  clients: number;
  sessions: number;
  more: boolean;
  lastClientId: string | null;
  members: { clientId: string; sessions: { sessionId: string; recordJson: string }[] }[];
} {
  const script = 'channel-members-3';
  const items = list(script, reply, (length) => length >= 4 && length % 2 === 0, '{ clients, sessions, more, last, then pairs }');
  const members: { clientId: string; sessions: { sessionId: string; recordJson: string }[] }[] = [];
  for (let i = 4; i < items.length; i += 2) {
    const field = string(script, items[i], 'a <clientId>|<sessionId>');
    const bar = field.indexOf('|');
    if (bar <= 0) fail(script, `${JSON.stringify(field)} is not <clientId>|<sessionId>`);
    const clientId = field.slice(0, bar);
    let member = members[members.length - 1];
    if (member?.clientId !== clientId) members.push((member = { clientId, sessions: [] }));
    member.sessions.push({ sessionId: field.slice(bar + 1), recordJson: string(script, items[i + 1], 'a record') });
  }
  return {
    clients: integer(script, items[0], 'clients'),
    sessions: integer(script, items[1], 'sessions'),
    more: flag(script, items[2], 'more'),
    lastClientId: items[3] === null || items[3] === false ? null : string(script, items[3], 'the last client id'),
    members,
  };
}

/** channel-occupancy-n: `{ clients, sessions, clients, sessions, ... }`, a pair per channel. */
export function channelOccupancyReply(reply: unknown): { clients: number; sessions: number }[] {
  const script = 'channel-occupancy-n';
  const items = list(script, reply, (length) => length % 2 === 0, 'clients and sessions per channel');
  const occupancies = [];
  for (let i = 0; i < items.length; i += 2) {
    occupancies.push({ clients: integer(script, items[i], 'clients'), sessions: integer(script, items[i + 1], 'sessions') });
  }
  return occupancies;
}

/** channel-leave-6: `{ clients, sessions, then per session: 1 if it was in the channel else 0, event id or false }`. */
export function channelLeaveReply(
  reply: unknown,
  sessions: number,
): { clients: number; sessions: number; left: { existed: boolean; eventId: string | null }[] } {
  const script = 'channel-leave-6';
  const items = list(script, reply, (length) => length === 2 + 2 * sessions, `{ clients, sessions, then 2 per session (${sessions}) }`);
  const left = [];
  for (let i = 2; i < items.length; i += 2) {
    left.push({ existed: flag(script, items[i], 'existed'), eventId: optionalString(script, items[i + 1], 'the event id') });
  }
  return { clients: integer(script, items[0], 'clients'), sessions: integer(script, items[1], 'sessions'), left };
}
