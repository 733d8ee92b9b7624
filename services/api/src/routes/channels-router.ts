import { CHANNEL_EVENT_TYPES, type ChannelEventType, type ChannelStore } from '@presence/presence-store';
import { CHANNEL_PATTERN, CHANNEL_RULE, CLIENT_ID_PATTERN } from '@presence/protocol';
import type { Logger } from '@presence/telemetry';
import { encodeChannelEvent, parseChannelCursor } from '@presence/wire-format';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import type { ChannelFeed } from '../channel-feed.js';
import { CLIENT_ID_RULE, clientIdSchema } from '../client-ids.js';
import { HttpError } from '../http-errors.js';
import type { SseMetrics } from '../sse-metrics.js';
import { SseStream } from '../sse-stream.js';
import { jsonBody, limitParam, parseInput } from '../validate.js';

// Channel presence over HTTP (README, "Channels"). Requests and answers are zod schemas: the routes
// validate with the request schemas and the end-to-end tests hold every answer against the response
// schemas, so an OpenAPI document generated from them describes what the routes do.

/** Most channels one bulk occupancy request may name. */
export const MAX_OCCUPANCY_CHANNELS = 1_000;
/** Most channels one SSE stream may follow (its cursor holds a position per channel). */
export const MAX_STREAM_CHANNELS = 50;

/** A channel name (CHANNEL_RULE without its subject: zod's message is prefixed with where the value was). */
export const channelName = z.string().regex(CHANNEL_PATTERN, { error: CHANNEL_RULE.replace(/^channel /, '') });

/** GET /v1/channels/:channel. */
export const channelParamsSchema = z.object({ channel: channelName });

/** GET /v1/channels/:channel/members. */
export const membersQuerySchema = z.object({
  limit: limitParam(100),
  /** From the previous page's `nextCursor`. */
  cursor: z.string().max(400).optional(),
  /** `1`: each session's channel state too. */
  state: z.enum(['0', '1'], { error: 'must be 0 or 1' }).optional(),
});

/** GET /v1/channels. */
export const listChannelsQuerySchema = z.object({
  /** Only channels whose name starts with this. */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9._:@/-]{0,200}$/, { error: 'must be up to 200 characters of A-Z a-z 0-9 . _ : @ - /' })
    .default(''),
  limit: limitParam(100),
  cursor: z.string().max(40).optional(),
});

/** GET /v1/channels: a page may be short (even empty) while `nextCursor` is not null. */
export const channelListSchema = z.object({ channels: z.array(z.string()), nextCursor: z.string().nullable() });

/** POST /v1/channels/occupancy. */
export const occupancyBodySchema = z.strictObject({
  channels: z
    .array(channelName)
    .min(1, { error: 'must list at least one channel' })
    .max(MAX_OCCUPANCY_CHANNELS, { error: `must list at most ${MAX_OCCUPANCY_CHANNELS} channels` }),
});

const occupancySchema = z.object({ clients: z.number().int(), sessions: z.number().int() });

/** GET /v1/channels/:channel. */
export const channelOccupancySchema = occupancySchema.extend({ channel: z.string() });

/** GET /v1/channels/:channel/members. */
export const membersPageSchema = occupancySchema.extend({
  channel: z.string(),
  members: z.array(
    z.object({
      clientId: z.string(),
      sessions: z.array(
        z.object({
          sessionId: z.string(),
          node: z.string(),
          joinedAt: z.number().int(),
          /** With `state=1` only: the session's channel state, or null. */
          state: z.record(z.string(), z.unknown()).nullable().optional(),
        }),
      ),
    }),
  ),
  nextCursor: z.string().nullable(),
});

/** POST /v1/channels/occupancy. */
export const bulkOccupancySchema = z.object({ channels: z.array(channelOccupancySchema) });

/** GET /v1/presence/:clientId/channels. */
export const clientChannelsSchema = z.object({ clientId: z.string(), channels: z.array(z.string()) });

/** One `data:` of the channel event stream (docs/protocol.md, "Channel events"). */
export const channelEventSchema = z.object({
  id: z.string(),
  type: z.enum(CHANNEL_EVENT_TYPES),
  channel: z.string(),
  clientId: z.string(),
  sessionId: z.string(),
  node: z.string(),
  reason: z.string().nullable(),
  at: z.number().int(),
  occupancy: occupancySchema,
  version: z.number().int(),
});

/** GET /v1/events?channels=: the channel event stream. */
export const channelEventsQuerySchema = z.object({
  channels: z
    .string()
    .transform((list) => list.split(','))
    .pipe(
      z
        .array(channelName)
        .min(1)
        .max(MAX_STREAM_CHANNELS, { error: `must list at most ${MAX_STREAM_CHANNELS} channels` }),
    ),
  types: z
    .string()
    .transform((list) => list.split(','))
    .pipe(z.array(z.enum(CHANNEL_EVENT_TYPES, { error: `must each be one of ${CHANNEL_EVENT_TYPES.join(', ')}` })))
    .optional(),
  after: z.string().max(20_000).optional(),
});

/** The channel event stream's frames, added to GET /v1/events's (routes/events-router.ts) documentation. */
export const channelSseFrameSchema = z
  .object({ id: z.string(), event: z.enum(CHANNEL_EVENT_TYPES), data: channelEventSchema })
  .meta({ description: 'With `channels=`: one channel event; its id is a cursor `<channel>=<entry id>,...`.' });

/** The query parameters of GET /v1/events that select the channel event stream. */
export const channelEventsQueryDoc = {
  channels: z
    .string()
    .optional()
    .meta({
      description:
        'Comma-separated channels (up to 50): the stream carries their join, leave and update events instead, and `types` ' +
        'lists those (`join,leave,update`). Resumable the same way; `after=0` replays what the channels’ streams hold.',
    }),
};

const clientParamsSchema = z.object({ clientId: clientIdSchema });

export const channelsRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/v1/channels',
    tag: 'channels',
    auth: 'read',
    summary: 'The channels that have members now, by name prefix (a SCAN of Redis: for operators)',
    request: { query: listChannelsQuerySchema },
    responses: { 200: { description: 'A page of channel names; it may be short while nextCursor is not null', schema: channelListSchema } },
    errors: { 400: ['bad_request', 'bad_cursor', 'bad_channel'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/channels/:channel',
    tag: 'channels',
    auth: 'read',
    summary: "A channel's occupancy: clients and sessions in it (two O(1) Redis reads)",
    request: { params: channelParamsSchema },
    responses: { 200: { description: 'The occupancy (an unknown channel is empty, not a 404)', schema: channelOccupancySchema } },
    errors: { 400: ['bad_channel'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/channels/:channel/members',
    tag: 'channels',
    auth: 'read',
    summary: "A page of a channel's members with their sessions, in clientId order",
    description: 'Paging by `cursor` neither skips nor repeats a member that stays in the channel while others join and leave.',
    request: { params: channelParamsSchema, query: membersQuerySchema },
    responses: { 200: { description: 'Occupancy, then a page of members', schema: membersPageSchema } },
    errors: { 400: ['bad_channel', 'bad_request', 'bad_cursor'], 503: ['unavailable'] },
  },
  {
    method: 'post',
    path: '/v1/channels/occupancy',
    tag: 'channels',
    auth: 'read',
    summary: 'The occupancy of many channels (1-1000), in the order asked',
    request: { body: occupancyBodySchema },
    responses: { 200: { description: 'One occupancy per channel asked', schema: bulkOccupancySchema } },
    errors: { 400: ['bad_request', 'bad_channel'], 415: ['unsupported_media_type'], 503: ['unavailable'] },
  },
  {
    method: 'get',
    path: '/v1/presence/:clientId/channels',
    tag: 'channels',
    auth: 'read',
    summary: 'The channels a client is in now (where_now)',
    request: { params: clientParamsSchema },
    responses: { 200: { description: "The client's channels, sorted", schema: clientChannelsSchema } },
    errors: { 400: ['bad_client_id'], 503: ['unavailable'] },
  },
];

export interface ChannelsRouterDeps {
  channels: ChannelStore;
  feed: ChannelFeed;
  logger: Logger;
  /** Counts the channel event streams' subscribers and drops, beside the client event stream's. */
  sseMetrics: SseMetrics;
  options: { sseKeepAliveMs: number; sseMaxBufferBytes: number };
}

export function createChannelsRouter(deps: ChannelsRouterDeps): express.Router {
  const { channels, feed, logger, options, sseMetrics } = deps;
  sseMetrics.countFrom('channels', () => feed.subscriberCount);
  const router = express.Router();

  router.get('/v1/channels', async (req, res) => {
    const query = parseInput(listChannelsQuerySchema, req.query, 'bad_request');
    res.json(await channels.listChannels(query.prefix, query.cursor ?? null, query.limit));
  });

  router.get('/v1/channels/:channel', async (req, res) => {
    const { channel } = parseInput(channelParamsSchema, req.params, 'bad_channel');
    res.json({ channel, ...(await channels.occupancy(channel)) });
  });

  router.get('/v1/channels/:channel/members', async (req, res) => {
    const { channel } = parseInput(channelParamsSchema, req.params, 'bad_channel');
    const query = parseInput(membersQuerySchema, req.query, 'bad_request');
    const page = await channels.members(channel, query.cursor ?? null, query.limit, query.state === '1');
    res.json({ channel, ...page.occupancy, members: page.members, nextCursor: page.nextCursor });
  });

  router.post('/v1/channels/occupancy', async (req, res) => {
    const body = parseInput(occupancyBodySchema, jsonBody(req, '{"channels": ["room:1", "room:2"]}'), 'bad_request');
    const occupancies = await channels.occupancies(body.channels);
    res.json({ channels: body.channels.map((channel, i) => ({ channel, ...occupancies[i] })) });
  });

  router.get('/v1/presence/:clientId/channels', async (req, res) => {
    const clientId = req.params.clientId;
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new HttpError(400, 'bad_client_id', CLIENT_ID_RULE);
    res.json({ clientId, channels: await channels.channelsOf(clientId) });
  });

  // The event stream with `channels=`: channel events; without, the client events (app.ts) as before.
  router.get('/v1/events', async (req: Request, res: Response, next: NextFunction) => {
    if (req.query.channels === undefined) {
      next();
      return;
    }
    const query = parseInput(channelEventsQuerySchema, req.query, 'bad_request');
    const types = query.types === undefined ? null : new Set<ChannelEventType>(query.types);
    const resumeFrom = req.get('last-event-id') ?? query.after;
    // `0`: every event the channels' streams still hold, as for the client event stream.
    const after =
      resumeFrom === undefined
        ? null
        : resumeFrom === '0'
          ? new Map(query.channels.map((name) => [name, '0-0']))
          : parseChannelCursor(resumeFrom);
    if (after === null && resumeFrom !== undefined)
      throw new HttpError(400, 'bad_cursor', 'Last-Event-ID / after is not an id from a channel stream');
    await streamChannelEvents(req, res, query.channels, after, types);
  });

  async function streamChannelEvents(
    req: Request,
    res: Response,
    names: string[],
    after: Map<string, string> | null,
    types: ReadonlySet<ChannelEventType> | null,
  ): Promise<void> {
    const stream = new SseStream(req, res, {
      keepAliveMs: options.sseKeepAliveMs,
      maxBufferBytes: options.sseMaxBufferBytes,
      onSlowReader: (buffered) => {
        logger.warn({ buffered }, 'SSE channel subscriber is not reading; dropping it (it can resume)');
        sseMetrics.dropped('channels', 'slow_reader');
      },
    });
    const subscription = await feed.subscribe(names, after, types, {
      open: (start) => stream.write(`retry: 1000\nid: ${start}\n\n`),
      event: (event, cursor) => stream.write(`id: ${cursor}\nevent: ${event.type}\ndata: ${encodeChannelEvent(event)}\n\n`),
      drop: (reason) => {
        sseMetrics.dropped('channels', 'catching_up');
        stream.write(`event: error\ndata: ${JSON.stringify({ code: 'dropped', message: reason })}\n\n`);
        stream.close();
      },
    });
    stream.onClose(() => subscription.close());
  }

  return router;
}
