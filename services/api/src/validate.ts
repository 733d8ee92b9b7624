import type { Request } from 'express';
import { z } from 'zod';
import { HttpError } from './http-errors.js';

/** Whether the request says it carries a body (its headers; an empty one counts). Requests without one (most) skip the JSON parser. */
export function hasBody(req: Request): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

const SEND_JSON = 'with the header content-type: application/json';

/**
 * A JSON route's body, or what to send instead: a body of another type is 415
 * `unsupported_media_type` (`curl -d` without `-H 'content-type: application/json'` sends a form);
 * none at all is `undefined` for the caller's schema, or, when `example` is given, a 400 showing it.
 */
export function jsonBody(req: Request, example?: string): unknown {
  if (hasBody(req) && req.headers['content-length'] !== '0' && req.is('application/json') === false) {
    const type = req.headers['content-type'] ?? 'none';
    throw new HttpError(415, 'unsupported_media_type', `send the body as JSON ${SEND_JSON} (got content-type: ${type})`);
  }
  if (req.body === undefined && example !== undefined) {
    throw new HttpError(400, 'bad_request', `send a JSON body such as ${example} ${SEND_JSON}`);
  }
  return req.body;
}

/** `value` as `schema` reads it, or a 400 with `code` whose message is zod's first issue, prefixed by where it is. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, code: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')} `;
  throw new HttpError(400, code, `${where}${issue?.message ?? 'is invalid'}`);
}

const LIMIT_RULE = 'must be a whole number from 1 to 1000';

/** A `limit` query parameter: 1 to 1000, `defaultValue` when absent. */
export function limitParam(defaultValue: number) {
  return z
    .string()
    .regex(/^\d{1,4}$/, { error: LIMIT_RULE })
    .transform(Number)
    .pipe(z.number().min(1, { error: LIMIT_RULE }).max(1_000, { error: LIMIT_RULE }))
    .default(defaultValue);
}
