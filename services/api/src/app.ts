import express, { type Request, type Response } from 'express';
import { CLIENT_ID_PATTERN } from '@presence/protocol';
import { EVENT_TYPES, EventCursor, type EventType, type PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { Cluster, Redis } from 'ioredis';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { z } from 'zod';
import type { EventHub } from './event-hub.js';
import { bearerAuth } from './bearer-auth.js';
import { CLIENT_ID_RULE, querySchema, validQueryIds } from './client-ids.js';
import { HttpError, errorHandler, sendError } from './http-errors.js';
import { queryResultsJson } from './query-results-json.js';
import { sendJson } from './send-json.js';

export interface AppOptions {
  /** Bearer tokens accepted on /v1/*; empty: no authentication. */
  apiTokens: readonly string[];
  /** Bearer tokens accepted on /metrics; empty: open. */
  metricsTokens: readonly string[];
  /** Comment line sent on idle SSE streams so proxies and clients know the stream is alive. */
  sseKeepAliveMs: number;
  /** Bytes an SSE subscriber may leave unread before it is dropped (it can resume). */
  sseMaxBufferBytes: number;
}

export interface AppDeps {
  store: PresenceStore;
  redis: Redis | Cluster;
  hub: EventHub;
  logger: Logger;
  registry: Registry;
  options: AppOptions;
}

const listSchema = z.object({
  limit: z
    .string()
    .regex(/^\d{1,4}$/, { error: 'must be a whole number from 1 to 1000' })
    .transform(Number)
    .pipe(z.number().min(1, { error: 'must be a whole number from 1 to 1000' }).max(1_000, { error: 'must be a whole number from 1 to 1000' }))
    .default(100),
  cursor: z.string().max(400).optional(),
});
const eventsSchema = z.object({
  types: z
    .string()
    .regex(/^(online|offline)(,(online|offline))*$/, { error: 'must be a comma-separated list of online, offline' })
    .optional(),
  after: z.string().max(20_000).optional(),
});

/** Requests without one (most) skip the JSON body parser, which would only find that out, at a cost. */
function hasBody(req: Request): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, code: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')} `;
  throw new HttpError(400, code, `${where}${issue?.message ?? 'is invalid'}`);
}

/** The HTTP API (docs in README.md): presence queries, stats, the SSE event stream, health, metrics. */
export function createApp(deps: AppDeps): express.Express {
  const { store, redis, hub, logger, registry, options } = deps;
  const registers = [registry];
  const requestSeconds = new Histogram({
    name: 'presence_api_request_seconds', help: 'HTTP request duration', labelNames: ['route', 'status'], registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  const events = new Counter({
    name: 'presence_events_total', help: 'Presence events seen on the streams, by type and reason', labelNames: ['type', 'reason'], registers,
  });
  hub.observe((event) => events.inc({ type: event.type, reason: event.reason ?? 'none' }));
  new Gauge({
    name: 'presence_sse_subscribers', help: 'Open SSE subscriptions', registers,
    collect() {
      this.set(hub.subscriberCount);
    },
  });
  const online = new Gauge({ name: 'presence_online_clients', help: 'Clients online (all nodes)', registers });
  const sessions = new Gauge({ name: 'presence_sessions', help: 'Live sessions (all nodes)', registers });
  const nodeSessions = new Gauge({ name: 'presence_node_sessions', help: 'Sessions per edge node', labelNames: ['node'], registers });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      requestSeconds.observe({ route, status: String(res.statusCode) }, (performance.now() - started) / 1000);
    });
    next();
  });
  const parseJson = express.json({ limit: '256kb' });
  app.use((req, res, next) => (hasBody(req) ? parseJson(req, res, next) : next()));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await redis.ping();
      if (!hub.ready) throw new Error('event streams not read yet');
      res.json({ status: 'ready' });
    } catch {
      sendError(res, 503, 'not_ready', 'Redis is unreachable');
    }
  });

  // Without tokens the check lets everything in: no layer at all saves every /v1 request a step.
  if (options.apiTokens.length > 0) app.use('/v1', bearerAuth(options.apiTokens, 'presence'));

  app.get('/metrics', bearerAuth(options.metricsTokens, 'metrics'), async (_req, res) => {
    try {
      const stats = await store.stats();
      online.set(stats.onlineClients);
      sessions.set(stats.sessions);
      nodeSessions.reset();
      for (const node of stats.nodes) if (node.alive) nodeSessions.set({ node: node.node }, node.sessions);
    } catch {
      // Redis down: the process metrics are still worth scraping.
    }
    res.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/v1/presence/:clientId', async (req, res) => {
    const clientId = req.params.clientId;
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new HttpError(400, 'bad_client_id', CLIENT_ID_RULE);
    const presence = await store.getClient(clientId);
    sendJson(req, res, JSON.stringify({
      clientId: presence.clientId,
      online: presence.online,
      onlineSince: presence.onlineSince,
      sessions: presence.sessions,
      lastSeenAt: presence.lastSeenAt,
    }));
  });

  app.post('/v1/presence/query', async (req, res) => {
    const clientIds = validQueryIds(req.body) ?? parse(querySchema, req.body, 'bad_request').clientIds;
    // Every id matched CLIENT_ID_PATTERN, as queryResultsJson requires.
    sendJson(req, res, queryResultsJson(await store.query(clientIds)));
  });

  app.get('/v1/presence', async (req, res) => {
    const query = parse(listSchema, req.query, 'bad_request');
    res.json(await store.listOnline(query.cursor ?? null, query.limit));
  });

  app.get('/v1/stats', async (_req, res) => {
    const stats = await store.stats();
    res.json({
      onlineClients: stats.onlineClients,
      sessions: stats.sessions,
      nodes: stats.nodes.map(({ node, sessions: count, lastSeenAt, alive }) => ({ node, sessions: count, lastSeenAt, alive })),
    });
  });

  app.get('/v1/events', async (req: Request, res: Response) => {
    const query = parse(eventsSchema, req.query, 'bad_request');
    const types = query.types === undefined ? null : new Set(query.types.split(',') as EventType[]);
    const resumeFrom = req.get('last-event-id') ?? query.after;
    let after: EventCursor | null = null;
    if (resumeFrom === '0') after = EventCursor.start(store.keys.shardCount);
    else if (resumeFrom !== undefined) {
      after = EventCursor.parse(resumeFrom, store.keys.shardCount);
      if (after === null) throw new HttpError(400, 'bad_cursor', 'Last-Event-ID / after is not an id from this stream');
    }
    if (!hub.ready) throw new HttpError(503, 'unavailable', 'event streams are unavailable; retry shortly');

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    const socket = res.socket;
    socket?.setNoDelay(true);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      clearInterval(keepAlive);
      subscription?.close();
      res.end();
    };
    // A slow subscriber is judged once per event-loop turn, before that turn's writes: the hub hands
    // out a page of events at a time, so a healthy reader may hold a page's worth between turns. One
    // whose backlog is still over the limit when the next batch comes is dropped (it can resume). The
    // most a subscriber can cost is the limit plus one page.
    let judgedThisTurn = false;
    const write = (chunk: string) => {
      if (!open) return;
      if (!judgedThisTurn) {
        judgedThisTurn = true;
        setImmediate(() => {
          judgedThisTurn = false;
        });
        // Bytes accepted but not yet taken by the kernel. Node counts them on the socket and, while
        // the response is corked, on the response: never both, so the larger is the backlog.
        const buffered = Math.max(res.writableLength, socket?.writableLength ?? 0);
        if (buffered > options.sseMaxBufferBytes) {
          logger.warn({ buffered }, 'SSE subscriber is not reading; dropping it (it can resume)');
          open = false;
          clearInterval(keepAlive);
          subscription?.close();
          res.destroy();
          return;
        }
      }
      res.write(chunk);
    };
    const keepAlive = setInterval(() => write(': keepalive\n\n'), options.sseKeepAliveMs);
    let subscription: Awaited<ReturnType<EventHub['subscribe']>> | undefined;
    // The response's close is the connection's: the request's fires as soon as a body was read.
    res.on('close', close);
    // A body on this GET is ignored, but read, or Node stops reading the socket and never sees the
    // subscriber leave.
    req.resume();
    subscription = await hub.subscribe(after, types, {
      // The starting point as an id, so a subscriber that saw no event yet still resumes without a gap.
      open: (start) => write(`retry: 1000\nid: ${start}\n\n`),
      event: (event, cursor) => write(`id: ${cursor}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`),
      drop: (reason) => {
        write(`event: error\ndata: ${JSON.stringify({ code: 'dropped', message: reason })}\n\n`);
        close();
      },
    });
    if (!open) subscription.close();
  });

  app.use((_req, res) => sendError(res, 404, 'not_found', 'no such route; see the README for the API'));
  app.use(errorHandler(logger));
  return app;
}

export { EVENT_TYPES };
