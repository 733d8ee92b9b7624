import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkLiteralTarget, guardedLookup } from '@presence/webhooks';

/** Why a request did not count as delivered (the `reason` label of presence_webhook_failures_total). */
export type FailureReason = 'status_4xx' | 'status_5xx' | 'redirect' | 'timeout' | 'connection' | 'address_refused' | 'aborted';

export interface SendRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Check the target's addresses (endpoints registered through the API, unless WEBHOOK_ALLOW_PRIVATE=on). */
  guard: boolean;
  /** Aborts the request (the endpoint was deleted, or the worker stops). */
  signal?: AbortSignal;
}

export type SendResult =
  | { ok: true; status: number; ms: number }
  | { ok: false; reason: FailureReason; error: string; status: number | null; retryAfterMs: number | null; ms: number };

export type Sender = (request: SendRequest) => Promise<SendResult>;

/** Most bytes of an answer read (and thrown away) so its connection can be reused; more and the connection is dropped. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs webhook bodies. A 2xx is a delivery; anything else fails the attempt: another status, a
 * redirect (never followed: it could lead anywhere, including past the address guard), no complete
 * answer within `timeoutMs` (connecting, sending and reading the answer included), a refused
 * address, a network error. Connections are kept alive and reused, in separate pools for guarded
 * and unguarded endpoints, so a connection opened without the check never serves a guarded one.
 */
export function createSender(options: { timeoutMs: number }): { send: Sender; close(): void } {
  const agent = (guard: boolean) => {
    const settings = { keepAlive: true, maxSockets: 4, ...(guard ? { lookup: guardedLookup } : {}) };
    return { http: new HttpAgent(settings), https: new HttpsAgent(settings) };
  };
  const agents = { guarded: agent(true), open: agent(false) };

  const send: Sender = (req) => {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    const failed = (
      reason: FailureReason,
      error: string,
      status: number | null = null,
      retryAfterMs: number | null = null,
    ): SendResult => ({
      ok: false,
      reason,
      error,
      status,
      retryAfterMs,
      ms: ms(),
    });
    const url = new URL(req.url);
    if (req.guard) {
      try {
        checkLiteralTarget(url);
      } catch (error) {
        return Promise.resolve(failed('address_refused', (error as Error).message));
      }
    }
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = req.signal === undefined ? timeout : AbortSignal.any([timeout, req.signal]);
    const pool = req.guard ? agents.guarded : agents.open;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<SendResult>((resolve) => {
      const outgoing = request(url, {
        method: 'POST',
        agent: url.protocol === 'https:' ? pool.https : pool.http,
        headers: { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) },
        signal,
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (timeout.aborted) resolve(failed('timeout', `no complete answer within ${options.timeoutMs} ms`));
        else if (signal.aborted) resolve(failed('aborted', 'request aborted'));
        else if (error.code === 'address_refused') resolve(failed('address_refused', error.message));
        else resolve(failed('connection', error.code === undefined ? error.message : `${error.code}: ${error.message}`));
      });
      outgoing.on('response', (answer: IncomingMessage) => {
        const status = answer.statusCode ?? 0;
        let read = 0;
        answer.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) answer.destroy();
        });
        answer.on('error', () => {
          // reported by the request's error handler (timeout, reset)
        });
        answer.on('close', () => {
          if (status >= 200 && status < 300) return resolve({ ok: true, status, ms: ms() });
          if (!answer.complete && timeout.aborted) return resolve(failed('timeout', `no complete answer within ${options.timeoutMs} ms`));
          if (status >= 300 && status < 400) return resolve(failed('redirect', `HTTP ${status} (redirects are not followed)`, status));
          const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(answer.headers['retry-after']) : null;
          resolve(failed(status < 500 ? 'status_4xx' : 'status_5xx', `HTTP ${status}`, status, retryAfterMs));
        });
      });
      outgoing.end(req.body);
    });
  };

  return {
    send,
    close() {
      for (const pool of Object.values(agents)) {
        pool.http.destroy();
        pool.https.destroy();
      }
    },
  };
}

/** Retry-After in seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
