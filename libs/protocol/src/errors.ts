/**
 * Error codes a server sends as `ERR <code> <message>` before closing.
 * The set is part of the wire protocol (docs/protocol.md): add, never rename.
 */
export const ERROR_CODES = [
  'bad_frame',
  'frame_too_large',
  'hello_required',
  'hello_timeout',
  'bad_client_id',
  'bad_state',
  'unauthorized',
  'server_busy',
  'too_many_connections',
  'rate_limited',
  'too_many_sessions',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A client broke the protocol; the connection answers `ERR <code> <message>` and closes. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/**
 * Codes of `NACK <channel> <code> <message>`: a channel request (JOIN, LEAVE, SET) was refused and the
 * session goes on. Part of the wire protocol (docs/protocol.md): add, never rename.
 */
export const CHANNEL_NACK_CODES = [
  'bad_frame',
  'bad_channel',
  'bad_state',
  'forbidden',
  'too_many_channels',
  'not_joined',
  'overloaded',
  'unavailable',
] as const;

export type ChannelNackCode = (typeof CHANNEL_NACK_CODES)[number];
