/**
 * Server `ERR` codes after which reconnecting can't help: the same HELLO would be refused again, or
 * the client itself is broken. `hello_timeout` and unknown codes are retried with backoff.
 */
export const FATAL_SERVER_CODES: ReadonlySet<string> = new Set([
  'bad_client_id',
  'unauthorized',
  'bad_frame',
  'frame_too_large',
  'hello_required',
  'bad_state',
]);

/**
 * Codes of PresenceClientError: a fatal server `ERR` code, or one of the client's own:
 * `bad_argument` (an option is unusable), `bad_state` (setState with something the server would
 * refuse), `closed` (close() was called while connect() was pending), `retries_exhausted`
 * (maxReconnectAttempts failed attempts in a row).
 */
export type PresenceClientErrorCode =
  | 'bad_argument'
  | 'bad_state'
  | 'closed'
  | 'retries_exhausted'
  | 'bad_client_id'
  | 'unauthorized'
  | 'bad_frame'
  | 'frame_too_large'
  | 'hello_required'
  | (string & {});

/** A failure of the TCP presence client that it will not retry by itself. */
export class PresenceClientError extends Error {
  readonly code: PresenceClientErrorCode;

  constructor(code: PresenceClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PresenceClientError';
    this.code = code;
  }
}

/**
 * A failed HTTP API call (or event stream). `code` is the API's own error code
 * (`bad_client_id`, `bad_request`, `bad_cursor`, `not_found`, `unavailable`, …) or one of the
 * client's: `unauthorized` (401), `unreachable` (no connection), `timeout`, `bad_response`
 * (not the JSON the API sends). `status` is the HTTP status, null when there was no response.
 */
export class PresenceApiError extends Error {
  readonly code: string;
  readonly status: number | null;

  constructor(code: string, message: string, status: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PresenceApiError';
    this.code = code;
    this.status = status;
  }
}

/**
 * Something a stream consumer could not do: `handler_failed` (the handler threw or rejected; the
 * entry stays pending and is delivered again after the claim idle time) or `redis_failed` (a
 * Redis call failed; the consumer keeps going and retries on its next round).
 */
export class StreamConsumerError extends Error {
  readonly code: 'handler_failed' | 'redis_failed';
  /** The event the handler failed on, if any: its id (`<shard>-<entry id>`), or for a channel event `<channel>=<id>`. */
  readonly eventId: string | null;

  constructor(code: 'handler_failed' | 'redis_failed', message: string, eventId: string | null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamConsumerError';
    this.code = code;
    this.eventId = eventId;
  }
}
