import { channelKeys } from './channel-keys.js';

/**
 * Webhook keys (docs/webhooks.md, "Redis keys"). Two kinds:
 * - deployment-wide ones, all under the hash tag `{webhooks}` (one cluster slot, with the BullMQ
 *   delivery queue): the endpoint registry, each endpoint's current delivery job, the fan-out lease;
 * - per event source, under the source's own hash tag: the fan-out cursor, the registry change
 *   counter, and each endpoint's lane (its queue of events to deliver and its dead letters), so that
 *   one script moves events from a source stream into lanes atomically, on Redis Cluster too.
 *
 * A source is one event stream: each shard's (`{sN}`), and the stream of each channel that an
 * endpoint names (`{c:<channel>}`: its keys sit in the channel's slot, beside its stream).
 */
export interface WebhookKeys {
  /** HASH endpoint id → endpoint JSON. */
  endpoints: string;
  /**
   * HASH endpoint id → endpoint JSON of endpoints being deleted: what their lanes were (which
   * channels), until those are dropped, so that a deletion a crash cut short can be finished.
   */
  deleting: string;
  /** HASH endpoint id → id of its current delivery job (absent: no job, nothing queued). */
  jobs: string;
  /** HASH endpoint id → counter numbering its delivery jobs. */
  jobSeq: string;
  /** STRING: the worker that runs the fan-out now (a lease with a TTL). */
  fanOutLease: string;
  /** Pub/sub channel: a message when endpoints change or dead letters are replayed. */
  channel: string;
  /** BullMQ's prefix for the delivery queue (same tag: one slot). */
  queuePrefix: string;
}

/** The stream of a source: a shard's presence events, or one channel's events. */
export type WebhookSourceStream = { kind: 'shard'; shard: number } | { kind: 'channel'; channel: string };

/** The webhook keys of one event source. */
export interface WebhookSourceKeys {
  /** Names the source in logs and dead-letter ids: `s<N>` for shard N, `c:<channel>` for a channel. */
  source: string;
  stream: WebhookSourceStream;
  /** The source's event stream. */
  events: string;
  /** STRING: id of the last stream entry fanned out to the lanes. */
  cursor: string;
  /** STRING: counts endpoint changes, so a fan-out working from an older endpoint list is refused. */
  version: string;
  /** Prefix of this source's lanes: `${lanePrefix}<endpoint id>:queue` and `…:dead`. */
  lanePrefix: string;
}

/** One endpoint's lane in one source: events waiting for delivery, and events given up on. */
export interface WebhookLaneKeys {
  /** STREAM of `event` (its JSON), in the order of the source stream; the entry id is when it was queued. */
  queue: string;
  /** STREAM of dead letters: `event`, `queuedAt`, `attempts`, `error`. */
  dead: string;
}

/**
 * An endpoint id: letters, digits, `_` and `-` (no `{`, `}` or `:`), so it can't move a lane key to
 * another slot or into another key's name.
 */
export const WEBHOOK_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Group name under which the fan-out cursor is mirrored on every source stream, for the backlog metrics. */
export const WEBHOOK_CONSUMER_GROUP = 'webhooks';

export function webhookKeys(prefix: string): WebhookKeys {
  const base = `${prefix}:{webhooks}:`;
  return {
    endpoints: `${base}endpoints`,
    deleting: `${base}deleting`,
    jobs: `${base}jobs`,
    jobSeq: `${base}job-seq`,
    fanOutLease: `${base}fan-out`,
    channel: `${prefix}:webhooks`,
    queuePrefix: `${prefix}:{webhooks}`,
  };
}

/** A source's webhook keys: under the tag `tag` of its stream (`{sN}`, `{c:<channel>}`), beside it. */
function sourceKeys(prefix: string, tag: string, source: string, stream: WebhookSourceStream, events: string): WebhookSourceKeys {
  const base = `${prefix}:{${tag}}:webhooks:`;
  return { source, stream, events, cursor: `${base}cursor`, version: `${base}version`, lanePrefix: base };
}

/** The webhook keys of shard `shard`'s event stream `events` (`KeySpace.shard(n).events`). */
export function webhookShardKeys(prefix: string, shard: number, events: string): WebhookSourceKeys {
  return sourceKeys(prefix, `s${shard}`, `s${shard}`, { kind: 'shard', shard }, events);
}

/**
 * The webhook keys of a channel's event stream (its name already validated: isValidChannel in
 * libs/protocol): under the channel's hash tag, so fan-out-3 moves its cursor and writes the lanes
 * in the slot of the stream it reads.
 */
export function webhookChannelKeys(prefix: string, channel: string): WebhookSourceKeys {
  return sourceKeys(prefix, `c:${channel}`, `c:${channel}`, { kind: 'channel', channel }, channelKeys(prefix, channel).events);
}

export function webhookLaneKeys(source: WebhookSourceKeys, endpointId: string): WebhookLaneKeys {
  return { queue: `${source.lanePrefix}${endpointId}:queue`, dead: `${source.lanePrefix}${endpointId}:dead` };
}
