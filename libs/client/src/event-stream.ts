import { WakeableSleep } from '@presence/protocol';
import type { ChannelEventType, PresenceEvent, PresenceEventType } from './api-types.js';
import { apiHeaders, apiUrl, errorFromFailure, errorFromResponse, type ApiTarget } from './api-request.js';
import { DEFAULTS } from './defaults.js';
import { PresenceApiError } from './errors.js';
import { SseParser } from './sse-parser.js';

export interface EventStreamOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  token?: string;
  /** Only these event types (default: all of the stream's). */
  types?: readonly (PresenceEventType | ChannelEventType)[];
  /**
   * The channel event stream of these channels (`GET /v1/events?channels=`: join, leave, update)
   * instead of the client events. Create it with `PresenceHttpClient.channelEvents`, which types it.
   */
  channels?: readonly string[];
  /**
   * Start after this cursor (the `id` of an item from an earlier stream, stored by the consumer),
   * or `'0'` for every event still retained. Default: from now on.
   */
  after?: string;
  /** Ceiling of the first reconnect delay until the server sends `retry:`. */
  retryMs?: number;
  retryCapMs?: number;
  /** A stream silent this long (no event, no keep-alive) is dropped and resumed. */
  idleTimeoutMs?: number;
  /** Aborting it ends the iteration (like close()). */
  signal?: AbortSignal;
  /** Each time a connection is open (status 200): the first time and after every reconnect. */
  onOpen?: (info: { reconnected: boolean; lastEventId: string | null }) => void;
  /** Before every reconnect; return false to stop and have the iterator throw `error` instead. */
  onRetry?: (info: EventStreamRetry) => boolean | void;
}

export interface EventStreamRetry {
  /** Failed connections in a row (1 after a stream that was open ends). */
  attempt: number;
  delayMs: number;
  /** Why the previous connection ended; a PresenceApiError with code `dropped` when the server dropped a slow reader. */
  error: Error;
  /** Where the next connection resumes. */
  lastEventId: string | null;
}

export interface EventStreamItem<E = PresenceEvent> {
  /** The resume cursor right after this event: store it, and pass it as `after` to continue from here later. */
  id: string;
  event: E;
}

/**
 * Presence events from the API's SSE endpoint as an async iterator that survives drops: after a
 * network error, an API restart, the end of the stream or the server dropping a slow reader
 * (`event: error` with code `dropped`), it reconnects with `Last-Event-ID` set to the last id
 * received (id-only messages included, as EventSource does), so the API resumes right after it:
 * every event once, in order per client. Reconnects wait a random time below the server's `retry:`
 * (doubling per failure in a row, up to retryCapMs). It throws only what retrying can't fix: 401,
 * another 4xx (a bad cursor), or a response that is not an event stream.
 *
 * Iterate it once. Breaking out of the loop, close() or the abort signal end it.
 */
export class EventStream<E = PresenceEvent> implements AsyncIterable<EventStreamItem<E>> {
  /** The cursor the next connection resumes from; null until the stream first opened (when `after` was not given). */
  lastEventId: string | null;
  private readonly target: ApiTarget;
  private readonly path: string;
  /** The SSE event names that carry events on this stream. */
  private readonly eventNames: ReadonlySet<string>;
  private readonly options: EventStreamOptions;
  private retryMs: number;
  private readonly retryCapMs: number;
  private readonly idleTimeoutMs: number;
  private closed = false;
  private current: AbortController | null = null;
  private readonly pause = new WakeableSleep();
  private iterator: AsyncGenerator<EventStreamItem<E>, void, undefined> | null = null;

  constructor(options: EventStreamOptions) {
    this.options = options;
    this.target = { baseUrl: options.baseUrl.replace(/\/+$/, ''), token: options.token ?? null };
    // Channel names and types hold only characters a query may carry as they are (`A-Z a-z 0-9 . _ : @ - /`).
    const params: string[] = [];
    if (options.channels !== undefined) params.push(`channels=${options.channels.join(',')}`);
    if (options.types !== undefined && options.types.length > 0) params.push(`types=${options.types.join(',')}`);
    this.eventNames = new Set(options.channels === undefined ? ['online', 'offline'] : ['join', 'leave', 'update']);
    this.path = `/v1/events${params.length === 0 ? '' : `?${params.join('&')}`}`;
    this.lastEventId = options.after ?? null;
    this.retryMs = options.retryMs ?? DEFAULTS.eventsRetryMs;
    this.retryCapMs = options.retryCapMs ?? DEFAULTS.eventsRetryCapMs;
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULTS.eventsIdleTimeoutMs;
    if (options.signal?.aborted) this.closed = true;
    options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  [Symbol.asyncIterator](): AsyncGenerator<EventStreamItem<E>, void, undefined> {
    this.iterator ??= this.run();
    return this.iterator;
  }

  /** Ends the stream: a pending or next `next()` finishes the iteration. */
  close(): void {
    this.closed = true;
    this.current?.abort();
    this.pause.wake();
  }

  private async *run(): AsyncGenerator<EventStreamItem<E>, void, undefined> {
    let attempt = 0;
    let opened = 0;
    try {
      while (!this.closed) {
        let failure: Error;
        try {
          for await (const item of this.connect(opened > 0, () => {
            opened += 1;
            attempt = 0;
          })) {
            yield item;
          }
          failure = new PresenceApiError('stream_ended', 'the API ended the event stream', 200);
        } catch (error) {
          if (this.closed) return;
          if (error instanceof FatalStreamError) throw error.cause;
          failure = error instanceof Error ? error : new Error(String(error));
        }
        if (this.closed) return;
        attempt += 1;
        const ceiling = Math.min(this.retryCapMs, this.retryMs * 2 ** Math.min(attempt - 1, 30));
        const delayMs = Math.floor(Math.random() * ceiling);
        if (this.options.onRetry?.({ attempt, delayMs, error: failure, lastEventId: this.lastEventId }) === false) throw failure;
        await this.pause.sleep(delayMs);
      }
    } finally {
      this.closed = true;
      this.current?.abort();
    }
  }

  /** One connection: yields its events until it ends (returns) or fails (throws). */
  private async *connect(reconnected: boolean, onOpen: () => void): AsyncGenerator<EventStreamItem<E>, void, undefined> {
    const controller = new AbortController();
    this.current = controller;
    const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (this.lastEventId !== null) headers['last-event-id'] = this.lastEventId;
    let res: Response;
    try {
      res = await fetch(apiUrl(this.target, this.path), { headers: apiHeaders(this.target, headers), signal: controller.signal });
    } catch (error) {
      throw errorFromFailure(this.target, error, null);
    }
    if (res.status !== 200) {
      const body = await res.text().catch(() => '');
      const error = errorFromResponse(this.target, res.status, body);
      // 4xx won't get better by asking again (except 408/429): a bad token, a cursor from another deployment.
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new FatalStreamError(error);
      throw error;
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || res.body === null) {
      controller.abort();
      throw new FatalStreamError(
        new PresenceApiError('bad_response', `the API answered ${JSON.stringify(type)}, not an event stream`, 200),
      );
    }
    onOpen();
    this.options.onOpen?.({ reconnected, lastEventId: this.lastEventId });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser(this.lastEventId ?? '');
    try {
      for (;;) {
        const chunk = await this.read(reader, controller);
        if (chunk === null) return;
        for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (message.lastEventId !== '') this.lastEventId = message.lastEventId;
          if (this.eventNames.has(message.event)) {
            let event: E;
            try {
              event = JSON.parse(message.data) as E;
            } catch (error) {
              throw new FatalStreamError(new PresenceApiError('bad_response', 'an event was not valid JSON', 200, { cause: error }));
            }
            yield { id: this.lastEventId ?? '', event };
          } else if (message.event === 'error') {
            throw streamError(message.data);
          }
        }
        // An id-only message (the stream's opening one) moves the resume point too.
        if (parser.lastEventId !== '') this.lastEventId = parser.lastEventId;
        if (parser.retryMs !== null) this.retryMs = Math.max(1, parser.retryMs);
      }
    } finally {
      controller.abort();
    }
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>, controller: AbortController): Promise<Uint8Array | null> {
    let idle = false;
    const timer = setTimeout(() => {
      idle = true;
      controller.abort();
    }, this.idleTimeoutMs);
    try {
      const { done, value } = await reader.read();
      return done ? null : value;
    } catch (error) {
      if (idle) throw new PresenceApiError('idle', `no data on the event stream for ${this.idleTimeoutMs} ms`, 200, { cause: error });
      throw errorFromFailure(this.target, error, null);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A failure retrying can't fix; unwrapped before it reaches the caller. */
class FatalStreamError extends Error {
  override readonly cause: PresenceApiError;

  constructor(cause: PresenceApiError) {
    super(cause.message);
    this.cause = cause;
  }
}

function streamError(data: string): PresenceApiError {
  try {
    const parsed = JSON.parse(data) as { code?: unknown; message?: unknown };
    const code = typeof parsed.code === 'string' ? parsed.code : 'stream_error';
    const message = typeof parsed.message === 'string' ? parsed.message : 'the API ended the stream with an error';
    return new PresenceApiError(code, `the API ended the event stream: ${message}`, 200);
  } catch {
    return new PresenceApiError('stream_error', 'the API ended the event stream with an error', 200);
  }
}
