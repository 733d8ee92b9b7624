import { CHANNEL_RULE, isValidChannel } from './channel-name.js';
import { CLIENT_ID_RULE, isValidClientId } from './client-id.js';
import { ProtocolError, type ChannelNackCode } from './errors.js';

/** Default largest PING state in bytes (the JSON text after `PING `); an edge may configure less or more. */
export const MAX_STATE_BYTES = 1024;
/** Longest HELLO token in characters. */
export const MAX_TOKEN_LENGTH = 2048;

export type ClientMessage =
  | { type: 'hello'; clientId: string; token: string | null }
  | { type: 'ping'; state: Record<string, unknown> | null; stateJson: string | null }
  | { type: 'bye' }
  | { type: 'empty' }
  | { type: 'join'; channel: string; stateJson: string | null }
  | { type: 'leave'; channel: string }
  | { type: 'set'; channel: string; stateJson: string }
  /**
   * A channel command that can't be carried out as sent: the session answers
   * `NACK <channel> <code> <message>` and goes on (a bad channel request never ends a session).
   */
  | { type: 'channel-error'; channel: string; code: ChannelNackCode; message: string };

// Pure: the browser bundle of the SDK, which imports only constants from here, drops them.
const PING = /* @__PURE__ */ Buffer.from('PING');
const BYE = /* @__PURE__ */ Buffer.from('BYE');
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Printable ASCII without space: what a token may contain.
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

const PING_MESSAGE: ClientMessage = Object.freeze({ type: 'ping', state: null, stateJson: null });
const BYE_MESSAGE: ClientMessage = Object.freeze({ type: 'bye' });
const EMPTY_MESSAGE: ClientMessage = Object.freeze({ type: 'empty' });

/**
 * Parses one frame (without its newline). Throws ProtocolError with the documented code for anything
 * that is not a well-formed client message. A bare `PING` and `BYE` are recognised from their bytes.
 */
export function parseClientFrame(frame: Buffer, maxStateBytes: number = MAX_STATE_BYTES): ClientMessage {
  if (frame.length === 0) return EMPTY_MESSAGE;
  if (frame.equals(PING)) return PING_MESSAGE;
  if (frame.equals(BYE)) return BYE_MESSAGE;

  let text: string;
  try {
    text = utf8.decode(frame);
  } catch {
    throw new ProtocolError('bad_frame', 'frame is not valid UTF-8');
  }
  const space = text.indexOf(' ');
  const verb = space === -1 ? text : text.slice(0, space);
  const rest = space === -1 ? '' : text.slice(space + 1);

  switch (verb) {
    case 'HELLO':
      return parseHello(rest);
    case 'PING':
      return parsePingState(rest, maxStateBytes);
    case 'BYE':
      throw new ProtocolError('bad_frame', 'BYE takes no arguments');
    case 'JOIN':
    case 'LEAVE':
    case 'SET':
      return parseChannelCommand(verb, rest, maxStateBytes);
    default:
      throw new ProtocolError('bad_frame', `unknown command ${JSON.stringify(truncate(verb, 32))}`);
  }
}

function parseHello(rest: string): ClientMessage {
  const parts = rest.split(' ');
  if (rest.length === 0 || parts.length > 2) {
    throw new ProtocolError('bad_frame', 'expected HELLO <clientId> [<token>]');
  }
  const [clientId = '', token] = parts;
  if (!isValidClientId(clientId)) {
    throw new ProtocolError('bad_client_id', `clientId ${CLIENT_ID_RULE}`);
  }
  if (token !== undefined && (token.length > MAX_TOKEN_LENGTH || !TOKEN_PATTERN.test(token))) {
    throw new ProtocolError('bad_frame', `token must be 1-${MAX_TOKEN_LENGTH} printable ASCII characters`);
  }
  return { type: 'hello', clientId, token: token ?? null };
}

const CHANNEL_USAGE = { JOIN: 'JOIN <channel> [<json-state>]', LEAVE: 'LEAVE <channel>', SET: 'SET <channel> <json-state>' } as const;

/** JOIN, LEAVE and SET: the channel, then (JOIN, SET) a state as PING takes it. */
function parseChannelCommand(verb: 'JOIN' | 'LEAVE' | 'SET', rest: string, maxStateBytes: number): ClientMessage {
  const space = rest.indexOf(' ');
  const channel = space === -1 ? rest : rest.slice(0, space);
  const state = space === -1 ? null : rest.slice(space + 1);
  const fail = (code: ChannelNackCode, message: string): ClientMessage => ({
    type: 'channel-error',
    channel: echo(channel),
    code,
    message,
  });
  if (channel === '') return fail('bad_frame', `expected ${CHANNEL_USAGE[verb]}`);
  if (!isValidChannel(channel)) return fail('bad_channel', CHANNEL_RULE);
  if (verb === 'LEAVE') return state === null ? { type: 'leave', channel } : fail('bad_frame', `expected ${CHANNEL_USAGE.LEAVE}`);
  if (state === null)
    return verb === 'JOIN' ? { type: 'join', channel, stateJson: null } : fail('bad_frame', `expected ${CHANNEL_USAGE.SET}`);
  let stateJson: string;
  try {
    stateJson = normaliseState(state, maxStateBytes).stateJson;
  } catch (error) {
    return fail('bad_state', (error as ProtocolError).message);
  }
  return verb === 'JOIN' ? { type: 'join', channel, stateJson } : { type: 'set', channel, stateJson };
}

/** A channel as a NACK names it: what was sent, cut to fit and without control characters, or `-` for none. */
function echo(channel: string): string {
  const printable = channel.slice(0, 200).replace(/[^\x21-\x7e]/g, '?');
  return printable === '' ? '-' : printable;
}

function parsePingState(json: string, maxStateBytes: number): ClientMessage {
  return { type: 'ping', ...normaliseState(json, maxStateBytes) };
}

/** A state (the JSON object of PING, JOIN and SET) in canonical form; throws ProtocolError `bad_state`. */
function normaliseState(json: string, maxStateBytes: number): { state: Record<string, unknown>; stateJson: string } {
  // Checked before parsing, so a JSON bomb costs at most this many bytes of work.
  if (Buffer.byteLength(json) > maxStateBytes) {
    throw new ProtocolError('bad_state', `state may be at most ${maxStateBytes} bytes of JSON`);
  }
  let state: unknown;
  try {
    state = JSON.parse(json);
  } catch {
    throw new ProtocolError('bad_state', 'state is not valid JSON');
  }
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new ProtocolError('bad_state', 'state must be a JSON object');
  }
  // Stored in its canonical form so that what the API returns is exactly one JSON object. That form
  // can be longer than what was sent (1e20 is written out in full), so it must fit the limit too.
  const stateJson = JSON.stringify(state);
  if (Buffer.byteLength(stateJson) > maxStateBytes) {
    throw new ProtocolError('bad_state', `state may be at most ${maxStateBytes} bytes of JSON once normalised`);
  }
  return { state: state as Record<string, unknown>, stateJson };
}

function truncate(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
