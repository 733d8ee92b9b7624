import { EventCursor, type EventType, type PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { EVENT_TYPES, OFFLINE_REASONS } from '@presence/wire-format';
import express from 'express';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import type { EventHub } from '../event-hub.js';
import { HttpError } from '../http-errors.js';
import type { SseMetrics } from '../sse-metrics.js';
import { SseStream } from '../sse-stream.js';
import { channelEventsQueryDoc, channelSseFrameSchema } from './channels-router.js';
import { parseInput } from '../validate.js';

export interface EventsRouterDeps {
  store: PresenceStore;
  hub: EventHub;
  logger: Logger;
  registry: Registry;
  sseMetrics: SseMetrics;
  options: {
    /** Comment line sent on idle SSE streams so proxies and clients know the stream is alive. */
    sseKeepAliveMs: number;
    /** Bytes an SSE subscriber may leave unread before it is dropped (it can resume). */
    sseMaxBufferBytes: number;
  };
}

const eventsQuerySchema = z.object({
  types: z
    .string()
    .regex(/^(online|offline)(,(online|offline))*$/, { error: 'must be a comma-separated list of online, offline' })
    .optional()
    .meta({ description: 'Only these event types (comma-separated); all when absent. With `channels`: join, leave, update.' }),
  after: z
    .string()
    .max(20_000)
    .optional()
    .meta({ description: 'Resume after this event id (an SSE `id:`), or `0` for the oldest event kept. `Last-Event-ID` wins over it.' }),
  // Served by routes/channels-router.ts, which takes the request when it is given; documented here, on the one operation.
  ...channelEventsQueryDoc,
  access_token: z
    .string()
    .optional()
    .meta({ description: 'With API_TOKENS set and no Authorization header: a token from POST /v1/events/token (event-token.ts).' }),
});
const eventsHeadersSchema = z.object({
  'last-event-id': z.string().optional().meta({ description: 'Sent by EventSource on reconnection: resume after this id.' }),
});

/** An event, as SSE `data:` and webhook bodies carry it. */
export const presenceEventSchema = z
  .object({
    id: z.string().meta({ description: '`<shard>-<stream entry id>`: unique, and ordered within a client.' }),
    type: z.enum(EVENT_TYPES),
    clientId: z.string(),
    sessionId: z.string(),
    node: z.string(),
    reason: z.enum(OFFLINE_REASONS).nullable().meta({ description: 'Why it went offline; null on online events.' }),
    at: z.number().meta({ description: 'When the transition happened (ms since 1970, Redis time).' }),
  })
  .meta({ id: 'PresenceEvent' });

/** OpenAPI 3.1 cannot say "a stream of items" (3.2's itemSchema can): the schema is that of one frame. */
const sseFrameSchema = z
  .union([
    z.object({ retry: z.literal(1000), id: z.string() }).meta({ description: 'The first frame: the starting point, as a resumable id.' }),
    z.object({ id: z.string(), event: z.enum(EVENT_TYPES), data: presenceEventSchema }),
    channelSseFrameSchema,
    z
      .object({ event: z.literal('error'), data: z.object({ code: z.literal('dropped'), message: z.string() }) })
      .meta({ description: 'The last frame of a subscriber that fell too far behind; reconnect (with Last-Event-ID) to resume.' }),
  ])
  .meta({
    id: 'SseFrame',
    description: 'One frame of the stream, by its SSE fields (`data` is JSON). Comment lines (`: keepalive`) come every SSE_KEEPALIVE_MS.',
  });

export const eventsRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/v1/events',
    tag: 'events',
    auth: 'read',
    summary: 'Presence events as they happen (Server-Sent Events), resumable',
    description:
      'Each event comes as `id: <cursor>`, `event: online|offline`, `data: <PresenceEvent JSON>`. Reconnect with ' +
      '`Last-Event-ID` (EventSource does) or `?after=` to resume without a gap. A subscriber that does not read ' +
      '(SSE_MAX_BUFFER_BYTES unread) is cut; one too far behind while resuming gets an `error` frame and is closed.',
    request: { query: eventsQuerySchema, headers: eventsHeadersSchema },
    responses: { 200: { description: 'The event stream, one frame at a time', schema: sseFrameSchema, contentType: 'text/event-stream' } },
    errors: { 400: ['bad_request', 'bad_cursor'], 401: ['token_expired'], 503: ['unavailable'] },
  },
];

/** GET /v1/events: the SSE event stream, and its metrics. */
export function createEventsRouter(deps: EventsRouterDeps): express.Router {
  const { store, hub, logger, options } = deps;
  const registers = [deps.registry];
  const events = new Counter({
    name: 'presence_events_total',
    help: 'Presence events seen on the streams, by type and reason',
    labelNames: ['type', 'reason'],
    registers,
  });
  hub.observe((event) => events.inc({ type: event.type, reason: event.reason ?? 'none' }));
  deps.sseMetrics.countFrom('presence', () => hub.subscriberCount);

  const router = express.Router();
  router.get('/v1/events', async (req, res) => {
    const query = parseInput(eventsQuerySchema, req.query, 'bad_request');
    const types = query.types === undefined ? null : new Set(query.types.split(',') as EventType[]);
    const after = resumePoint(req.get('last-event-id') ?? query.after, store.keys.shardCount);
    if (!hub.ready) throw new HttpError(503, 'unavailable', 'event streams are unavailable; retry shortly');

    const stream = new SseStream(req, res, {
      keepAliveMs: options.sseKeepAliveMs,
      maxBufferBytes: options.sseMaxBufferBytes,
      onSlowReader: (buffered) => {
        logger.warn({ buffered }, 'SSE subscriber is not reading; dropping it (it can resume)');
        deps.sseMetrics.dropped('presence', 'slow_reader');
      },
    });
    const subscription = await hub.subscribe(after, types, {
      // The starting point as an id, so a subscriber that saw no event yet still resumes without a gap.
      open: (start) => stream.write(`retry: 1000\nid: ${start}\n\n`),
      event: (event, cursor) => stream.write(`id: ${cursor}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`),
      drop: (reason) => {
        deps.sseMetrics.dropped('presence', 'catching_up');
        stream.write(`event: error\ndata: ${JSON.stringify({ code: 'dropped', message: reason })}\n\n`);
        stream.close();
      },
    });
    stream.onClose(() => subscription.close());
  });
  return router;
}

/** Where a subscriber resumes: after `id`, from the oldest event kept for `0`, from now when absent. */
function resumePoint(id: string | undefined, shardCount: number): EventCursor | null {
  if (id === undefined) return null;
  if (id === '0') return EventCursor.start(shardCount);
  const cursor = EventCursor.parse(id, shardCount);
  if (cursor === null) throw new HttpError(400, 'bad_cursor', 'Last-Event-ID / after is not an id from this stream');
  return cursor;
}
