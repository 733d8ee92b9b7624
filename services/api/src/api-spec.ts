import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

/**
 * The OpenAPI 3.1 document (GET /openapi.json, README "API reference") is generated from the same zod
 * schemas the routes validate with. Each router file exports its routes as `ApiRoute`s next to its
 * handlers, and `API_ROUTES` (api-routes.ts) lists them all: a new router adds its list there, and
 * the contract test (test/contract) fails on any answer the document does not describe.
 */

/** Who may call a route: `read` API_TOKENS, `admin` ADMIN_TOKENS, `metrics` METRICS_TOKENS, `none` anyone. */
export type ApiAuth = 'read' | 'admin' | 'metrics' | 'none';

export interface ApiResponse {
  description: string;
  /** The body's schema; none for an empty body (204). */
  schema?: z.ZodType;
  /** `application/json` unless said otherwise. */
  contentType?: string;
}

export interface ApiRoute {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The path as express writes it (`/v1/presence/:clientId`). */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: ApiAuth;
  request?: { params?: z.ZodObject; query?: z.ZodObject; body?: z.ZodType; headers?: z.ZodObject };
  /** Successful answers by status. */
  responses: Record<number, ApiResponse>;
  /** Error answers by status: the `error.code`s this route can give (those common to all routes are added). */
  errors?: Record<number, readonly string[]>;
}

/**
 * What any request with a body may get, whatever its route or method, even one that does not exist:
 * the body is parsed as JSON before the request is routed (`bad_json`; `bad_request` for a bad
 * encoding or charset, a body cut short, or a path that does not decode; `body_too_large` over 256 KiB).
 */
export const BEFORE_ROUTING_ERRORS: Record<number, readonly string[]> = {
  400: ['bad_json', 'bad_request'],
  413: ['body_too_large'],
  415: ['bad_request'],
};
/** What any route may answer besides its own errors: those above, and a bug. */
const COMMON_ERRORS: Record<number, readonly string[]> = { ...BEFORE_ROUTING_ERRORS, 500: ['internal'] };
const AUTH_ERRORS: Record<ApiAuth, Record<number, readonly string[]>> = {
  read: { 401: ['unauthorized'] },
  admin: { 401: ['unauthorized'], 403: ['admin_disabled'] },
  metrics: { 401: ['unauthorized'] },
  none: {},
};

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input',
  401: 'No valid bearer token',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Wrong method',
  409: 'Conflict',
  413: 'Body too large',
  415: 'Unsupported body',
  500: 'A bug: the details are in the log, not the answer',
  503: 'Redis or the event streams are out of reach; retry shortly',
};

const SECURITY: Record<ApiAuth, RouteConfig['security']> = {
  // Each scheme is required only when its tokens are configured: `{}` says "or none at all".
  read: [{ readToken: [] }, {}],
  admin: [{ adminToken: [] }, {}],
  metrics: [{ metricsToken: [] }, {}],
  none: [],
};

/** Every error answer's body, `code` one of those the route gives with that status. */
const errorSchema = (code: z.ZodType) =>
  z.strictObject({
    error: z.strictObject({
      code: code.meta({ description: 'Stable and machine-readable: branch on it.' }),
      message: z.string().meta({ description: 'What was wrong and what to change, for a person.' }),
    }),
  });

/** `/v1/presence/:clientId` as OpenAPI writes it: `/v1/presence/{clientId}`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function mergeErrors(...lists: Record<number, readonly string[]>[]): Map<number, string[]> {
  const merged = new Map<number, string[]>();
  for (const list of lists) {
    for (const [status, codes] of Object.entries(list)) {
      const known = merged.get(Number(status)) ?? [];
      merged.set(Number(status), [...new Set([...known, ...codes])]);
    }
  }
  return merged;
}

/** Adds `routes` to `registry`: one operation each, with its error answers and their codes. */
export function registerRoutes(registry: OpenAPIRegistry, routes: readonly ApiRoute[]): void {
  for (const route of routes) {
    const responses: RouteConfig['responses'] = {};
    for (const [status, response] of Object.entries(route.responses)) {
      responses[status] =
        response.schema === undefined
          ? { description: response.description }
          : { description: response.description, content: { [response.contentType ?? 'application/json']: { schema: response.schema } } };
    }
    const errors = mergeErrors(route.errors ?? {}, AUTH_ERRORS[route.auth], COMMON_ERRORS);
    for (const [status, codes] of [...errors].sort(([a], [b]) => a - b)) {
      const codeSchema = codes.length === 1 ? z.literal(codes[0] as string) : z.enum(codes as [string, ...string[]]);
      responses[String(status)] = {
        description: `${ERROR_TEXT[status] ?? 'Error'}: \`error.code\` ${codes.map((code) => `\`${code}\``).join(', ')}`,
        content: { 'application/json': { schema: errorSchema(codeSchema) } },
      };
    }
    registry.registerPath({
      method: route.method,
      path: openApiPath(route.path),
      operationId: operationId(route),
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      tags: [route.tag],
      security: SECURITY[route.auth],
      request: {
        ...(route.request?.params === undefined ? {} : { params: route.request.params }),
        ...(route.request?.query === undefined ? {} : { query: route.request.query }),
        ...(route.request?.headers === undefined ? {} : { headers: route.request.headers }),
        ...(route.request?.body === undefined
          ? {}
          : { body: { required: true, content: { 'application/json': { schema: route.request.body } } } }),
      },
      responses,
    });
  }
}

/** `get /v1/presence/:clientId` → `getV1PresenceClientId`: stable, unique per method and path. */
function operationId(route: ApiRoute): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter((word) => word !== '');
  return route.method + words.map((word) => word[0]?.toUpperCase() + word.slice(1)).join('');
}

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: readonly ApiRoute[]): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  for (const [name, description] of [
    ['readToken', 'One of API_TOKENS, on /v1/* (not the admin API). Not required when API_TOKENS is empty.'],
    ['adminToken', 'One of ADMIN_TOKENS, on /v1/webhooks*. Open when neither ADMIN_TOKENS nor API_TOKENS is set.'],
    ['metricsToken', 'One of METRICS_TOKENS, on /metrics. Not required when METRICS_TOKENS is empty.'],
  ] as const) {
    registry.registerComponent('securitySchemes', name, { type: 'http', scheme: 'bearer', description });
  }
  registerRoutes(registry, routes);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Presence API',
      version: '0.1.0',
      description:
        'Who is online, as HTTP: presence lookups, bulk queries, stats, the event stream (SSE), the webhooks admin API, ' +
        'health and metrics. Every error is `{"error": {"code", "message"}}`; each operation lists its codes. ' +
        'A path or method not listed here answers 404 `not_found` (under /v1/ with API_TOKENS set, a request without ' +
        'a valid token gets 401 `unauthorized` first). Any request with a body has it parsed as JSON before it is routed, ' +
        'so any may get 400 `bad_json`, 400 or 415 `bad_request` (encoding, charset) or 413 `body_too_large` (over 256 KiB). ' +
        'Generated from the zod schemas the routes validate with (services/api/src/routes).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: 'http://localhost:8080', description: 'The API as `npm start` or docker compose runs it' }],
    tags: [
      { name: 'presence', description: 'Who is online' },
      { name: 'events', description: 'Presence events as they happen (SSE)' },
      { name: 'webhooks', description: 'The webhooks admin API (docs/webhooks.md)' },
      { name: 'operations', description: 'Health, readiness, metrics and this document' },
      { name: 'dashboard', description: 'The live dashboard (GET /dashboard) and what it reads' },
    ],
  });
}
