import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChannelStore, NodeView, PresenceStore } from '@presence/presence-store';
import type { WebhookStore } from '@presence/webhooks';
import express, { type Response } from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { BUSIEST_DEFAULTS, BusiestChannels, type BusiestChannelsOptions } from '../busiest-channels.js';
import { clientIdSchema } from '../client-ids.js';
import { sendError } from '../http-errors.js';
import type { StatsHistory } from '../stats-history.js';
import { limitParam, parseInput } from '../validate.js';
import { MAX_STREAM_CHANNELS } from './channels-router.js';

// The answers of the dashboard's routes, as zod schemas: the OpenAPI document is made of them, and
// the contract test holds every answer the end-to-end tests get against it.

const nodeSchema = z
  .object({
    node: z.string(),
    sessions: z.number().int().meta({ description: 'What an edge reported at its last beat; 0 for a sweeper.' }),
    startedAt: z.number().meta({ description: 'When its process started (ms since 1970, its own clock).' }),
    lastSeenAt: z.number().meta({ description: 'Its last heartbeat (ms since 1970, Redis time).' }),
    version: z.string().nullable().meta({ description: 'The version it runs (its package version); null from older code.' }),
    alive: z.boolean().meta({ description: 'False once its heartbeat deadline passed; it stays listed for 5 minutes.' }),
  })
  .meta({ id: 'DashboardNode' });

/** GET /v1/dashboard/nodes. */
export const dashboardNodesSchema = z.object({
  edges: z.array(nodeSchema),
  sweepers: z.array(nodeSchema),
  now: z.number().meta({ description: 'Redis time of the answer, to say how long ago each beat was.' }),
});

/** GET /v1/dashboard/history. */
export const dashboardHistorySchema = z.object({
  intervalMs: z.number().int().meta({ description: 'DASHBOARD_SAMPLE_MS: one sample per interval, across all API replicas.' }),
  keepMs: z.number().int().meta({ description: 'DASHBOARD_HISTORY_MS: how far back samples go.' }),
  samples: z.array(
    z.object({
      at: z.number().meta({ description: "The interval's start (ms since 1970, Redis time)." }),
      onlineClients: z.number().int(),
      sessions: z.number().int(),
    }),
  ),
});

/** GET /v1/dashboard/webhooks: the endpoints without their secrets, nor their URLs' query strings. */
export const dashboardWebhooksSchema = z.object({
  webhooks: z.array(
    z.object({
      id: z.string(),
      url: z.string().meta({ description: "Scheme, host and path only: a query string may carry a receiver's credentials." }),
      events: z.array(z.string()),
      queued: z.number().int().meta({ description: 'Events waiting for delivery.' }),
      deadLetters: z.number().int().meta({ description: 'Events given up on after the retry window.' }),
      lagMs: z.number().meta({ description: 'How long the oldest queued event has waited (ms); 0 when none waits.' }),
    }),
  ),
});

/** GET /v1/dashboard/channels. */
export const dashboardChannelsQuerySchema = z.object({ limit: limitParam(10) });

/** GET /v1/dashboard/channels: the busiest channels, from a bounded walk (busiest-channels.ts). */
export const dashboardChannelsSchema = z.object({
  channels: z
    .array(z.object({ channel: z.string(), clients: z.number().int(), sessions: z.number().int() }))
    .meta({ description: 'Busiest first: by clients, then sessions, then name.' }),
  scanned: z.number().int().meta({ description: 'Channels with members the walk saw.' }),
  complete: z.boolean().meta({
    description: 'The walk saw every channel with members; false: the ranking is of the `scanned` channels only (approximate).',
  }),
});

/** GET /v1/dashboard/clients/:clientId/channels. */
export const dashboardClientParamsSchema = z.object({ clientId: clientIdSchema });

/** GET /v1/dashboard/clients/:clientId/channels: where_now, with each channel's occupancy and the client's sessions in it. */
export const dashboardClientChannelsSchema = z.object({
  clientId: z.string(),
  channels: z.array(
    z.object({
      channel: z.string(),
      clients: z.number().int(),
      sessions: z.number().int(),
      joined: z
        .array(
          z.object({
            sessionId: z.string(),
            node: z.string(),
            joinedAt: z.number().int(),
            state: z.record(z.string(), z.unknown()).nullable().meta({ description: "The session's channel state, or null." }),
          }),
        )
        .meta({ description: "The client's sessions in the channel, oldest join first." }),
    }),
  ),
});

const settingsSchema = z.object({
  authRequired: z.boolean().meta({ description: 'API_TOKENS is set: the page asks for a token before anything else.' }),
  maxStreamChannels: z.number().int().meta({ description: 'How many channels the event feed may follow (GET /v1/events?channels=).' }),
});

export const dashboardRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/dashboard',
    tag: 'dashboard',
    auth: 'none',
    summary: 'The live dashboard (a static page built with the API, no CDN)',
    description:
      'Open, like /healthz: the page holds no data; it asks for a token when API_TOKENS is set. Its script and stylesheet are under /dashboard/.',
    responses: { 200: { description: 'The page', schema: z.string(), contentType: 'text/html' } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'get',
    path: '/dashboard/:file',
    tag: 'dashboard',
    auth: 'none',
    summary: "The dashboard's script and stylesheet (app.js, app.css) and their source maps",
    request: { params: z.object({ file: z.string().meta({ description: '`app.js`, `app.css`, or one of their `.map` files' }) }) },
    responses: { 200: { description: 'The file', schema: z.string(), contentType: 'text/javascript' } },
    errors: { 404: ['not_found'] },
  },
  {
    method: 'get',
    path: '/dashboard/settings.json',
    tag: 'dashboard',
    auth: 'none',
    summary: 'Whether the dashboard must ask for a token',
    responses: { 200: { description: 'The page settings', schema: settingsSchema } },
  },
  {
    method: 'get',
    path: '/v1/dashboard/nodes',
    tag: 'dashboard',
    auth: 'read',
    summary: 'Edges and sweepers with their heartbeats and versions',
    responses: { 200: { description: 'The nodes Redis knows, alive or dead', schema: dashboardNodesSchema } },
    errors: { 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/dashboard/history',
    tag: 'dashboard',
    auth: 'read',
    summary: 'Online clients and sessions over the last DASHBOARD_HISTORY_MS, one sample per DASHBOARD_SAMPLE_MS',
    responses: { 200: { description: 'The samples, oldest first (the same on every API replica)', schema: dashboardHistorySchema } },
    errors: { 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/dashboard/channels',
    tag: 'dashboard',
    auth: 'read',
    summary: 'The busiest channels: the most clients first',
    description:
      'Walks the channels that have members like GET /v1/channels (a SCAN of every primary), asks their occupancy in bulk and ' +
      `sorts them. The walk stops after ${BUSIEST_DEFAULTS.maxPages} pages (each up to ${BUSIEST_DEFAULTS.pageSize} channels or ` +
      '50 SCAN calls of 1000 keys): when it has not finished by then, the ranking is of the channels seen (`complete: false`). ' +
      `A ranking is reused for ${BUSIEST_DEFAULTS.maxAgeMs} ms by this API replica, whoever asks.`,
    request: { query: dashboardChannelsQuerySchema },
    responses: { 200: { description: 'The top `limit` channels (default 10)', schema: dashboardChannelsSchema } },
    errors: { 400: ['bad_request'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/dashboard/clients/:clientId/channels',
    tag: 'dashboard',
    auth: 'read',
    summary: "A client's channels with their occupancy and its sessions' channel state",
    description:
      'GET /v1/presence/:clientId/channels (where_now), each channel with its occupancy and the sessions the client has in it; ' +
      'a channel the client is listed in but not a member of (a crash between the two steps of a JOIN) is left out.',
    request: { params: dashboardClientParamsSchema },
    responses: { 200: { description: 'Its channels, sorted by name', schema: dashboardClientChannelsSchema } },
    errors: { 400: ['bad_client_id'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/dashboard/webhooks',
    tag: 'dashboard',
    auth: 'read',
    summary: 'Webhook endpoints with their queues, lag and dead letters (no secrets)',
    responses: { 200: { description: 'The endpoints', schema: dashboardWebhooksSchema } },
    errors: { 503: ['unavailable'] },
  },
];

export interface DashboardRouterDeps {
  /** API_TOKENS is set: the page asks for a token before anything else. */
  authRequired: boolean;
  store: PresenceStore;
  channels: ChannelStore;
  history: StatsHistory;
  /** How the busiest channels are walked (busiest-channels.ts); the defaults otherwise. */
  busiest?: Partial<BusiestChannelsOptions>;
  /** Absent: the page shows no webhooks section. */
  webhooks?: WebhookStore;
  /** Where the built page is (services/api/dist/dashboard/, written by dashboard/build.mjs). */
  staticDir?: string;
}

/** The built page, beside this module once `npm run build` ran. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

// The page runs only its own script and style, and talks only to this origin.
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const view = ({ node, sessions, startedAt, lastSeenAt, version, alive }: NodeView) => ({
  node,
  sessions,
  startedAt,
  lastSeenAt,
  version,
  alive,
});

/**
 * The live dashboard: the page at GET /dashboard (static files, no data in them, open like /healthz)
 * and the reads it makes under /v1/dashboard (behind API_TOKENS like the rest of /v1). Its other
 * reads are the public API's own: /v1/stats, /v1/presence/:id, the event stream.
 */
export function createDashboardRouter(deps: DashboardRouterDeps): express.Router {
  const { store, channels, history } = deps;
  const busiest = new BusiestChannels(channels, deps.busiest);
  const staticDir = deps.staticDir ?? DASHBOARD_DIR;
  const router = express.Router();

  const page = (res: Response) => {
    if (!existsSync(`${staticDir}index.html`)) {
      return sendError(res, 404, 'not_found', 'the dashboard is not built; run npm run build');
    }
    res.set(PAGE_HEADERS);
    res.sendFile('index.html', { root: staticDir });
  };
  // Routing is not strict: this also answers /dashboard/.
  router.get('/dashboard', (_req, res) => page(res));
  // Open, like the page: it tells the page whether to ask for a token, and nothing else.
  router.get('/dashboard/settings.json', (_req, res) => {
    res
      .set(PAGE_HEADERS)
      .json({ authRequired: deps.authRequired, maxStreamChannels: MAX_STREAM_CHANNELS } satisfies z.output<typeof settingsSchema>);
  });
  // The page's script and stylesheet (and their source maps): a file name, never a path.
  router.get('/dashboard/:file', (req, res, next) => {
    const file = req.params.file;
    if (!/^[a-z]+\.(js|css|map)$/.test(file) && !/^[a-z]+\.(js|css)\.map$/.test(file)) return next();
    res.sendFile(file, { root: staticDir, headers: PAGE_HEADERS }, (error) => {
      if (error !== undefined && !res.headersSent) sendError(res, 404, 'not_found', `no file ${file} in the dashboard; run npm run build`);
    });
  });

  router.get('/v1/dashboard/nodes', async (_req, res) => {
    const [edges, sweepers, now] = await Promise.all([store.nodes(), store.sweepers(), store.now()]);
    res.json({ edges: edges.map(view), sweepers: sweepers.map(view), now } satisfies z.output<typeof dashboardNodesSchema>);
  });

  router.get('/v1/dashboard/history', async (_req, res) => {
    const answer: z.output<typeof dashboardHistorySchema> = {
      intervalMs: history.options.intervalMs,
      keepMs: history.options.keepMs,
      samples: await history.read(),
    };
    res.json(answer);
  });

  router.get('/v1/dashboard/channels', async (req, res) => {
    const { limit } = parseInput(dashboardChannelsQuerySchema, req.query, 'bad_request');
    res.json((await busiest.top(limit)) satisfies z.output<typeof dashboardChannelsSchema>);
  });

  router.get('/v1/dashboard/clients/:clientId/channels', async (req, res) => {
    const { clientId } = parseInput(dashboardClientParamsSchema, req.params, 'bad_client_id');
    const names = await channels.channelsOf(clientId);
    const [occupancies, joined] = await Promise.all([
      names.length === 0 ? [] : channels.occupancies(names),
      Promise.all(names.map((channel) => channels.memberSessions(channel, clientId))),
    ]);
    const answer: z.output<typeof dashboardClientChannelsSchema> = {
      clientId,
      channels: names.flatMap((channel, i) => {
        const sessions = joined[i] ?? [];
        const occupancy = occupancies[i] ?? { clients: 0, sessions: 0 };
        return sessions.length === 0
          ? []
          : [{ channel, ...occupancy, joined: sessions.map((session) => ({ ...session, state: session.state ?? null })) }];
      }),
    };
    res.json(answer);
  });

  router.get('/v1/dashboard/webhooks', async (_req, res) => {
    const webhooks = deps.webhooks;
    if (webhooks === undefined) return res.json({ webhooks: [] });
    const endpoints = await webhooks.listEndpoints();
    const [stats, now] = await Promise.all([webhooks.laneStats(endpoints), webhooks.now()]);
    res.json({
      webhooks: endpoints.map((endpoint) => {
        const lane = stats.get(endpoint.id);
        const url = new URL(endpoint.url);
        return {
          id: endpoint.id,
          url: `${url.origin}${url.pathname}`,
          events: endpoint.events,
          queued: lane?.queued ?? 0,
          deadLetters: lane?.dead ?? 0,
          lagMs: lane?.oldestQueuedAt == null ? 0 : Math.max(0, now - lane.oldestQueuedAt),
        };
      }),
    });
  });

  return router;
}
