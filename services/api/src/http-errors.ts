import type { ErrorRequestHandler, Response } from 'express';
import { StoreInputError, isRedisUnavailable } from '@presence/presence-store';

/** An error with an HTTP status and a stable machine-readable code. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
  }
}

export function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/**
 * The last handler: every error becomes `{"error": {"code", "message"}}`. Bad input is 4xx, Redis
 * trouble 503; only a bug is 500, and its details go to the log, not the client.
 */
export function errorHandler(logger: { error(obj: object, msg?: string): void }): ErrorRequestHandler {
  return (error: unknown, _req, res, _next) => {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (error instanceof HttpError) return sendError(res, error.status, error.code, error.message);
    if (error instanceof StoreInputError) return sendError(res, 400, error.code, error.message);
    const bodyError = error as { type?: string; status?: number };
    if (bodyError.type === 'entity.parse.failed') return sendError(res, 400, 'bad_json', 'request body is not valid JSON');
    if (bodyError.type === 'entity.too.large') return sendError(res, 413, 'body_too_large', 'request body is too large');
    if (typeof bodyError.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
      return sendError(res, bodyError.status, 'bad_request', error instanceof Error ? error.message : 'bad request');
    }
    if (isRedisUnavailable(error)) return sendError(res, 503, 'unavailable', 'Redis is unavailable; retry shortly');
    logger.error({ err: error }, 'request failed');
    return sendError(res, 500, 'internal', 'internal error');
  };
}
