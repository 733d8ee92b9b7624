import { PresenceApiError } from './errors.js';

export interface ApiTarget {
  /** The API's base URL, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Bearer token for /v1/*, sent as `Authorization: Bearer <token>`. */
  token: string | null;
}

/** Joins the base URL and an absolute API path without losing a path prefix of the base. */
export function apiUrl(target: ApiTarget, path: string): string {
  return `${target.baseUrl.replace(/\/+$/, '')}${path}`;
}

export function apiHeaders(target: ApiTarget, extra: Record<string, string>): Record<string, string> {
  return target.token === null ? extra : { ...extra, authorization: `Bearer ${target.token}` };
}

/** The API answered with an error status: its `{"error": {"code", "message"}}` as a typed error. */
export function errorFromResponse(target: ApiTarget, status: number, body: string): PresenceApiError {
  let code = `http_${status}`;
  let message = `the API answered ${status}`;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    // Not the API's JSON (a proxy's page): the status says enough.
  }
  if (status === 401) {
    const hint = target.token === null ? 'no token was given' : 'the token was refused';
    return new PresenceApiError('unauthorized', `unauthorized: ${hint} (${message})`, status);
  }
  return new PresenceApiError(code, message, status);
}

/** No answer at all: the API is down, unreachable, or slower than the timeout. */
export function errorFromFailure(target: ApiTarget, error: unknown, timeoutMs: number | null): PresenceApiError {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' && timeoutMs !== null) {
    return new PresenceApiError('timeout', `the API at ${target.baseUrl} did not answer within ${timeoutMs} ms`, null, { cause: error });
  }
  return new PresenceApiError('unreachable', `cannot reach the API at ${target.baseUrl} (${failureDetail(error)})`, null, { cause: error });
}

/** `ECONNREFUSED`, `ENOTFOUND`, …: the most specific code undici's "fetch failed" carries. */
function failureDetail(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause as { code?: unknown; message?: unknown; errors?: unknown[] } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  const first = cause?.errors?.[0] as { code?: unknown } | undefined;
  if (typeof first?.code === 'string') return first.code;
  if (typeof cause?.message === 'string' && cause.message !== '') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** One JSON request with a timeout; every failure becomes a PresenceApiError. */
export async function apiRequest<T>(
  target: ApiTarget,
  timeoutMs: number,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  let status: number;
  let text: string;
  try {
    const res = await fetch(apiUrl(target, path), {
      method,
      headers: apiHeaders(
        target,
        body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = res.status;
    text = await res.text();
  } catch (error) {
    throw errorFromFailure(target, error, timeoutMs);
  }
  if (status < 200 || status > 299) throw errorFromResponse(target, status, text);
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new PresenceApiError('bad_response', `the API at ${target.baseUrl} answered ${status} with something that is not JSON`, status, {
      cause: error,
    });
  }
}
