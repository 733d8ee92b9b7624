import { CLIENT_ID_PATTERN } from '@presence/protocol';
import type { PresenceStore } from '@presence/presence-store';
import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { CLIENT_ID_RULE, clientIdSchema, querySchema, validQueryIds } from '../client-ids.js';
import { HttpError } from '../http-errors.js';
import { queryResultsJson } from '../query-results-json.js';
import { sendJson } from '../send-json.js';
import { jsonBody, limitParam, parseInput } from '../validate.js';

const presenceParamsSchema = z.object({ clientId: clientIdSchema });
const QUERY_IS_POST =
  'the batch lookup is POST /v1/presence/query with {"clientIds": [...]}; ' +
  'a client named "query" is looked up the same way, as {"clientIds": ["query"]}';
const EMPTY_ID = 'the client id is empty: GET /v1/presence/<clientId> for one client, GET /v1/presence (no slash) for the list';

/** GET /v1/presence query. */
const listSchema = z.object({
  limit: limitParam(100).meta({ description: 'Clients per page, 1-1000.' }),
  cursor: z.string().max(400).optional().meta({ description: "The previous page's `nextCursor`." }),
});

const millis = (description: string) => z.number().meta({ description: `${description} (ms since 1970, Redis time)` });

const sessionSchema = z
  .object({
    sessionId: z.string(),
    node: z.string().meta({ description: 'The edge node holding the connection.' }),
    connectedAt: millis('When the session began'),
    lastSeenAt: millis('When its node last vouched for it'),
    meta: z.record(z.string(), z.unknown()).nullable().meta({ description: "The state of the session's latest `PING <json>`." }),
    endedAt: millis('When its connection ended, while it lingers in its offline grace').nullable(),
  })
  .meta({ id: 'Session' });

const presenceSchema = z
  .object({
    clientId: z.string(),
    online: z.boolean(),
    onlineSince: millis('Since when the client is online, its first session of the current run').nullable(),
    sessions: z.array(sessionSchema),
    lastSeenAt: millis('Online: now. Offline: when its last session ended, if known').nullable(),
  })
  .meta({ id: 'Presence' });

const queryResultsSchema = z
  .object({
    results: z.array(
      z.object({
        clientId: z.string(),
        online: z.boolean(),
        lastSeenAt: millis('Online: now. Offline: when its last session ended, if known').nullable(),
      }),
    ),
  })
  .meta({ id: 'QueryResults', description: 'One result per id asked, in the order asked.' });

const listPageSchema = z
  .object({
    clients: z.array(z.string()),
    nextCursor: z.string().nullable().meta({ description: 'Pass it as `cursor` for the next page; null on the last page.' }),
  })
  .meta({ id: 'OnlinePage' });

export const presenceRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/v1/presence/:clientId',
    tag: 'presence',
    auth: 'read',
    summary: 'One client: online or not, since when, its sessions',
    request: { params: presenceParamsSchema },
    responses: { 200: { description: 'The client (an unknown client is offline, not a 404)', schema: presenceSchema } },
    errors: { 400: ['bad_client_id'], 405: ['method_not_allowed'], 503: ['unavailable'] },
  },
  {
    method: 'post',
    path: '/v1/presence/query',
    tag: 'presence',
    auth: 'read',
    summary: 'Many clients at once (1-1000 ids)',
    request: { body: querySchema },
    responses: { 200: { description: 'Each client asked, in order', schema: queryResultsSchema } },
    errors: { 400: ['bad_request'], 415: ['unsupported_media_type'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/presence',
    tag: 'presence',
    auth: 'read',
    summary: 'The clients online now, a page at a time',
    request: { query: listSchema },
    responses: { 200: { description: 'A page of online client ids', schema: listPageSchema } },
    errors: { 400: ['bad_request', 'bad_cursor', 'bad_client_id'], 503: ['unavailable'] },
  },
];

/** Presence lookups: one client, many clients, and the online list. */
export function createPresenceRouter(store: PresenceStore): express.Router {
  const router = express.Router();

  router.get('/v1/presence/:clientId', async (req, res) => {
    const clientId = req.params.clientId;
    // The batch lookup is a POST; a GET here is a mistake far more often than a client named "query".
    if (clientId === 'query') {
      res.set('allow', 'POST');
      throw new HttpError(405, 'method_not_allowed', QUERY_IS_POST);
    }
    // presenceParamsSchema's rule without zod's per-call cost: this is the hottest route.
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new HttpError(400, 'bad_client_id', CLIENT_ID_RULE);
    const presence = await store.getClient(clientId);
    const view: z.output<typeof presenceSchema> = {
      clientId: presence.clientId,
      online: presence.online,
      onlineSince: presence.onlineSince,
      sessions: presence.sessions,
      lastSeenAt: presence.lastSeenAt,
    };
    sendJson(req, res, JSON.stringify(view));
  });

  router.post('/v1/presence/query', async (req, res) => {
    const body = jsonBody(req, '{"clientIds": ["alice", "bob"]}');
    const clientIds = validQueryIds(body) ?? parseInput(querySchema, body, 'bad_request').clientIds;
    // Every id matched CLIENT_ID_PATTERN, as queryResultsJson requires.
    sendJson(req, res, queryResultsJson(await store.query(clientIds)));
  });

  router.get('/v1/presence', async (req, res) => {
    // Routing ignores a trailing slash: `/v1/presence/` is a lookup whose client id was left out.
    if (req.path.endsWith('/')) throw new HttpError(400, 'bad_client_id', EMPTY_ID);
    const query = parseInput(listSchema, req.query, 'bad_request');
    const page: z.output<typeof listPageSchema> = await store.listOnline(query.cursor ?? null, query.limit);
    res.json(page);
  });

  return router;
}
