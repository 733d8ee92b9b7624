import { randomBytes } from 'node:crypto';
import { CHANNEL_PATTERN, CLIENT_ID_PATTERN } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import {
  AddressRefusedError,
  MAX_ENDPOINT_CHANNELS,
  WEBHOOK_EVENT_TYPES,
  WebhookInputError,
  checkPublicTarget,
  type WebhookEndpoint,
  type WebhookStore,
} from '@presence/webhooks';
import { CHANNEL_EVENT_TYPES, EVENT_TYPES, WEBHOOK_ID_PATTERN } from '@presence/wire-format';
import express, { type RequestHandler } from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { CLIENT_ID_RULE } from '../client-ids.js';
import { channelName } from './channels-router.js';
import { bearerAuth } from '../bearer-auth.js';
import { HttpError, sendError } from '../http-errors.js';
import { jsonBody, limitParam, parseInput } from '../validate.js';

// The admin API's requests and answers, as zod schemas: the routes below validate with the request
// schemas, and `webhooksRoutes` gives both to the OpenAPI document (api-spec.ts), against which the
// contract test holds every answer the end-to-end tests get.

const SECRET_RULE = 'must be 16-256 printable characters without spaces';

const isChannelType = (type: string) => (CHANNEL_EVENT_TYPES as readonly string[]).includes(type);
const CHANNEL_TYPES = CHANNEL_EVENT_TYPES.join(', ');

/** POST /v1/webhooks. */
export const webhookCreateSchema = z
  .strictObject({
    /** Where events are POSTed: http(s), no user name or password in it, at most 2048 characters. */
    url: z
      .string()
      .max(2_048, { error: 'must be at most 2048 characters' })
      .refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), { error: 'must be an http:// or https:// URL' })
      .refine((url) => !URL.canParse(url) || (new URL(url).username === '' && new URL(url).password === ''), {
        error: 'must not carry a user name or password (receivers check Presence-Signature instead)',
      }),
    /**
     * Event types to deliver. When absent: online and offline, or, with `filter.channels`, join,
     * leave and update.
     */
    events: z
      .array(z.enum(WEBHOOK_EVENT_TYPES, { error: `must each be one of ${WEBHOOK_EVENT_TYPES.join(', ')}` }))
      .min(1, { error: 'must list at least one event type' })
      .max(WEBHOOK_EVENT_TYPES.length * 2)
      .optional()
      .meta({
        description: `Event types to deliver. Default: online, offline; with filter.channels, ${CHANNEL_TYPES}, which need filter.channels.`,
      }),
    /** Which events of those types: every condition given must hold. */
    filter: z
      .strictObject({
        /** Only events of clients whose id starts with one of these (up to 100). */
        clientIdPrefixes: z
          .array(z.string().regex(CLIENT_ID_PATTERN, { error: CLIENT_ID_RULE }))
          .max(100, { error: 'must list at most 100 prefixes' })
          .optional(),
        /**
         * Exact channel names (up to 100): their join, leave and update events. No patterns: each
         * channel's events are in a stream of its own (docs/webhooks.md, "Channel events").
         */
        channels: z
          .array(
            z
              .string()
              .refine((name) => !name.includes('*'), {
                error: 'must be an exact channel name: patterns (prefix*) are not supported',
                abort: true,
              })
              .pipe(channelName)
              // The document shows the rule the pipe applies (the generator describes a pipe's input).
              .meta({ pattern: CHANNEL_PATTERN.source, description: 'An exact channel name' }),
          )
          .max(MAX_ENDPOINT_CHANNELS, { error: `must list at most ${MAX_ENDPOINT_CHANNELS} channels` })
          .optional()
          .meta({
            description: `Channels (exact names, up to ${MAX_ENDPOINT_CHANNELS}) whose ${CHANNEL_TYPES} events to deliver, from when the endpoint is registered. No patterns.`,
          }),
      })
      .optional(),
    /** Signs the requests; generated (and returned once, here) when absent. */
    secret: z
      .string()
      .regex(/^[\x21-\x7e]{16,256}$/, { error: SECRET_RULE })
      .optional(),
    description: z.string().max(500, { error: 'must be at most 500 characters' }).optional(),
  })
  .superRefine((input, ctx) => {
    // Channel events come only from channels named: an endpoint can't take them without any, nor name channels it takes none from.
    const channels = input.filter?.channels ?? [];
    if (channels.length === 0 && (input.events ?? []).some(isChannelType)) {
      ctx.addIssue({
        code: 'custom',
        path: ['filter', 'channels'],
        message: `must name the channels whose ${CHANNEL_TYPES} events to deliver (exact names)`,
      });
    } else if (channels.length > 0 && input.events !== undefined && !input.events.some(isChannelType)) {
      ctx.addIssue({
        code: 'custom',
        path: ['events'],
        message: `must include ${CHANNEL_TYPES} (one at least) when filter.channels is set`,
      });
    }
  })
  .meta({ id: 'WebhookCreate' });

/** An endpoint as GET answers it: never its secret. */
export const webhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    filter: z.object({ clientIdPrefixes: z.array(z.string()), channels: z.array(z.string()) }),
    /** `api`: registered here; `config`: from WEBHOOK_URLS (the worker's; DELETE refuses it). */
    source: z.enum(['api', 'config']),
    /** When it was registered (ms, Redis time); it receives the events that happen after. */
    createdAt: z.number(),
    description: z.string().nullable(),
    /** Events waiting for delivery now. */
    queued: z.number(),
    /** Events given up on after the retry window, held for reading and replay. */
    deadLetters: z.number(),
  })
  .meta({ id: 'Webhook' });

/** The answer to POST /v1/webhooks: the endpoint with its secret, shown this once. */
export const webhookCreatedSchema = webhookSchema
  .extend({ secret: z.string().meta({ description: 'Signs the requests (Presence-Signature); shown this once.' }) })
  .meta({ id: 'WebhookCreated' });
export const webhookListSchema = z.object({ webhooks: z.array(webhookSchema) }).meta({ id: 'WebhookList' });

/** GET /v1/webhooks/:id/dead-letters query. */
export const deadLetterQuerySchema = z.object({
  limit: limitParam(100),
  cursor: z.string().max(20_000).optional(),
});

export const deadLetterSchema = z.object({
  /** Names it for a replay. */
  id: z.string(),
  /** The event as it would have been delivered. */
  event: z.unknown(),
  queuedAt: z.number(),
  failedAt: z.number(),
  attempts: z.number(),
  /** What the last attempt got (`HTTP 500`, `no complete answer within 5000 ms`, …). */
  error: z.string(),
});
export const deadLetterPageSchema = z
  .object({ deadLetters: z.array(deadLetterSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'DeadLetterPage' });

/** POST /v1/webhooks/:id/dead-letters/replay: the dead letters to deliver again; all of them when `ids` is absent. */
export const replaySchema = z.strictObject({
  ids: z.array(z.string().max(100)).min(1, { error: 'must list at least one id (or leave ids out to replay all)' }).max(1_000).optional(),
});
export const replayResultSchema = z.object({ replayed: z.number() });
export const dropResultSchema = z.object({ dropped: z.number() });

const ROUTE = '/v1/webhooks';
const idParamsSchema = z.object({ id: z.string().meta({ description: 'The webhook id (`wh_…`) that POST answered.' }) });
const webhookRoute = (route: Omit<ApiRoute, 'tag' | 'auth'>): ApiRoute => ({ ...route, tag: 'webhooks', auth: 'admin' });

export const webhooksRoutes: readonly ApiRoute[] = [
  webhookRoute({
    method: 'post',
    path: ROUTE,
    summary: 'Register an endpoint',
    request: { body: webhookCreateSchema },
    responses: { 201: { description: 'Registered; its secret is in this answer only', schema: webhookCreatedSchema } },
    errors: { 400: ['bad_request', 'address_refused', 'bad_url'], 415: ['unsupported_media_type'], 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'get',
    path: ROUTE,
    summary: 'List the endpoints (those of WEBHOOK_URLS too)',
    responses: { 200: { description: 'Every endpoint, without secrets', schema: webhookListSchema } },
    errors: { 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'get',
    path: `${ROUTE}/:id`,
    summary: 'One endpoint',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'The endpoint, without its secret', schema: webhookSchema } },
    errors: { 404: ['not_found'], 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'delete',
    path: `${ROUTE}/:id`,
    summary: 'Delete an endpoint: nothing more is sent to it',
    request: { params: idParamsSchema },
    responses: { 204: { description: 'Deleted' } },
    errors: { 404: ['not_found'], 409: ['managed_by_config'], 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'get',
    path: `${ROUTE}/:id/dead-letters`,
    summary: 'Read the events given up on, oldest first',
    request: { params: idParamsSchema, query: deadLetterQuerySchema },
    responses: { 200: { description: 'A page of dead letters', schema: deadLetterPageSchema } },
    errors: { 400: ['bad_request', 'bad_cursor'], 404: ['not_found'], 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'post',
    path: `${ROUTE}/:id/dead-letters/replay`,
    summary: 'Deliver dead letters again (all, or those named)',
    request: { params: idParamsSchema, body: replaySchema },
    responses: { 200: { description: 'How many were queued again', schema: replayResultSchema } },
    errors: { 400: ['bad_request'], 404: ['not_found'], 415: ['unsupported_media_type'], 503: ['unavailable'] },
  }),
  webhookRoute({
    method: 'delete',
    path: `${ROUTE}/:id/dead-letters`,
    summary: 'Drop every dead letter',
    request: { params: idParamsSchema },
    responses: { 200: { description: 'How many were dropped', schema: dropResultSchema } },
    errors: { 404: ['not_found'], 503: ['unavailable'] },
  }),
];

export interface WebhooksRouterOptions {
  /** Bearer tokens for the admin API. */
  adminTokens: readonly string[];
  /**
   * The API's read tokens. With neither list set, the admin API is open (local use, like the rest);
   * with read tokens but no admin tokens it is off, so that setting API_TOKENS never leaves it open.
   */
  apiTokens: readonly string[];
  /** WEBHOOK_ALLOW_PRIVATE: register endpoints on loopback, private and link-local addresses. */
  allowPrivate: boolean;
}

export interface WebhooksRouterDeps {
  store: WebhookStore;
  logger: Logger;
  options: WebhooksRouterOptions;
}

function adminAuth(options: WebhooksRouterOptions): RequestHandler {
  if (options.adminTokens.length > 0) return bearerAuth(options.adminTokens, 'admin');
  if (options.apiTokens.length === 0) return (_req, _res, next) => next();
  return (_req, res) =>
    sendError(res, 403, 'admin_disabled', 'the admin API is off: API_TOKENS is set but ADMIN_TOKENS is not; set ADMIN_TOKENS to use it');
}

/**
 * The admin API for webhooks (docs/webhooks.md): register, list, read and delete endpoints, and
 * read, replay and drop their dead letters, behind ADMIN_TOKENS. Its routes carry their full paths,
 * so the app mounts it with `app.use(router)` ahead of the read-token check on /v1, and request
 * metrics name them by those paths.
 */
export function createWebhooksRouter(deps: WebhooksRouterDeps): express.Router {
  const { store, options } = deps;
  const router = express.Router();
  router.use(ROUTE, adminAuth(options));

  const endpointOf = async (id: string): Promise<WebhookEndpoint> => {
    const endpoint = WEBHOOK_ID_PATTERN.test(id) ? await store.getEndpoint(id) : null;
    if (endpoint === null) throw new HttpError(404, 'not_found', `no webhook ${id}`);
    return endpoint;
  };
  const view = (endpoint: WebhookEndpoint, stats: { queued: number; dead: number } | undefined): z.output<typeof webhookSchema> => ({
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    filter: endpoint.filter,
    source: endpoint.source,
    createdAt: endpoint.createdAt,
    description: endpoint.description,
    queued: stats?.queued ?? 0,
    deadLetters: stats?.dead ?? 0,
  });

  router.post(ROUTE, async (req, res) => {
    const input = parseInput(webhookCreateSchema, jsonBody(req) ?? {}, 'bad_request');
    if (!options.allowPrivate) await refuseNonPublic(new URL(input.url));
    const channels = [...new Set(input.filter?.channels ?? [])];
    const endpoint = await store.createEndpoint({
      id: `wh_${randomBytes(8).toString('hex')}`,
      url: input.url,
      secret: input.secret ?? `whsec_${randomBytes(24).toString('hex')}`,
      events: [...new Set(input.events ?? (channels.length > 0 ? CHANNEL_EVENT_TYPES : EVENT_TYPES))],
      filter: { clientIdPrefixes: input.filter?.clientIdPrefixes ?? [], channels },
      source: 'api',
      description: input.description ?? null,
    });
    deps.logger.info({ endpoint: endpoint.id, url: endpoint.url, events: endpoint.events, channels }, 'webhook registered');
    res.status(201).json({ ...view(endpoint, undefined), secret: endpoint.secret });
  });

  router.get(ROUTE, async (_req, res) => {
    const endpoints = await store.listEndpoints();
    const stats = await store.laneStats(endpoints);
    res.json({ webhooks: endpoints.map((endpoint) => view(endpoint, stats.get(endpoint.id))) });
  });

  router.get(`${ROUTE}/:id`, async (req, res) => {
    const endpoint = await endpointOf(req.params.id);
    res.json(view(endpoint, (await store.laneStats([endpoint])).get(endpoint.id)));
  });

  router.delete(`${ROUTE}/:id`, async (req, res) => {
    const endpoint = await endpointOf(req.params.id);
    if (endpoint.source === 'config') {
      throw new HttpError(
        409,
        'managed_by_config',
        'this webhook comes from WEBHOOK_URLS; remove it there and restart the webhooks worker',
      );
    }
    if (!(await store.deleteEndpoint(endpoint.id))) throw new HttpError(404, 'not_found', `no webhook ${endpoint.id}`);
    deps.logger.info({ endpoint: endpoint.id }, 'webhook deleted');
    res.status(204).end();
  });

  router.get(`${ROUTE}/:id/dead-letters`, async (req, res) => {
    const endpoint = await endpointOf(req.params.id);
    const query = parseInput(deadLetterQuerySchema, req.query, 'bad_request');
    try {
      res.json(await store.deadLetters(endpoint, query.cursor ?? null, query.limit));
    } catch (error) {
      if (error instanceof WebhookInputError) throw new HttpError(400, error.code, error.message);
      throw error;
    }
  });

  router.post(`${ROUTE}/:id/dead-letters/replay`, async (req, res) => {
    const endpoint = await endpointOf(req.params.id);
    const input = parseInput(replaySchema, jsonBody(req) ?? {}, 'bad_request');
    const replayed = await store.replay(endpoint, input.ids ?? null);
    deps.logger.info({ endpoint: endpoint.id, replayed }, 'dead letters replayed');
    res.json({ replayed });
  });

  router.delete(`${ROUTE}/:id/dead-letters`, async (req, res) => {
    const endpoint = await endpointOf(req.params.id);
    res.json({ dropped: await store.dropDeadLetters(endpoint) });
  });

  return router;
}

/** 400 for a URL whose host is, or resolves to, an address that is not public (docs/webhooks.md, "Address guard"). */
async function refuseNonPublic(url: URL): Promise<void> {
  try {
    await checkPublicTarget(url);
  } catch (error) {
    if (error instanceof AddressRefusedError) throw new HttpError(400, 'address_refused', `url ${error.message}`);
    const code = (error as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') {
      throw new HttpError(400, 'bad_url', `url host ${url.hostname} does not resolve (${code})`);
    }
    throw error;
  }
}
