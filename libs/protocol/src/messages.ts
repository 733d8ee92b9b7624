import { isValidClientId } from './client-id.js';
import { ProtocolError } from './errors.js';

/** Default largest PING state in bytes (the JSON text after `PING `); an edge may configure less or more. */
export const MAX_STATE_BYTES = 1024;
/** Longest HELLO token in characters. */
export const MAX_TOKEN_LENGTH = 2048;

export type ClientMessage =
  | { type: 'hello'; clientId: string; token: string | null }
  | { type: 'ping'; state: Record<string, unknown> | null; stateJson: string | null }
  | { type: 'bye' }
  | { type: 'empty' };

const PING = Buffer.from('PING');
const BYE = Buffer.from('BYE');
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
    throw new ProtocolError('bad_client_id', 'clientId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
  }
  if (token !== undefined && (token.length > MAX_TOKEN_LENGTH || !TOKEN_PATTERN.test(token))) {
    throw new ProtocolError('bad_frame', `token must be 1-${MAX_TOKEN_LENGTH} printable ASCII characters`);
  }
  return { type: 'hello', clientId, token: token ?? null };
}

function parsePingState(json: string, maxStateBytes: number): ClientMessage {
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
  return { type: 'ping', state: state as Record<string, unknown>, stateJson };
}

function truncate(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
