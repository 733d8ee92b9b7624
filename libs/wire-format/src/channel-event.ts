import { streamFieldMap } from './stream-fields.js';

/**
 * Channel presence events as Redis holds them: an entry in the channel's own stream (ChannelKeys.events)
 * and the same event as JSON on KeySpace.channelEventsChannel, both written by
 * lua/includes/emit-channel-event.lua in libs/presence-store in the script that makes the transition
 * (the JSON concatenated by hand; an integration test holds it against `channelEventFromMessage`).
 */

export const CHANNEL_EVENT_TYPES = ['join', 'leave', 'update'] as const;
export type ChannelEventType = (typeof CHANNEL_EVENT_TYPES)[number];

/** Why a client left a channel: `left` for an explicit LEAVE, else the reason its last session there ended. */
export const CHANNEL_LEAVE_REASONS = ['left', 'leave', 'closed', 'timeout', 'shutdown', 'expired'] as const;
export type ChannelLeaveReason = (typeof CHANNEL_LEAVE_REASONS)[number];

export interface ChannelOccupancy {
  /** Clients with at least one session joined. */
  clients: number;
  /** Sessions joined. */
  sessions: number;
}

/** One transition of a client in a channel. */
export interface ChannelEvent {
  /** The entry id in the channel's stream: unique and ordered within the channel. */
  id: string;
  type: ChannelEventType;
  channel: string;
  clientId: string;
  sessionId: string;
  node: string;
  /** Set on `leave`; null otherwise. */
  reason: ChannelLeaveReason | null;
  /** Milliseconds since the epoch, Redis time (for a leave after a session end: when the session ended). */
  at: number;
  /** The channel's occupancy right after the event. */
  occupancy: ChannelOccupancy;
  /** Grows with every event of the channel, hence of the member: drop an event older than one already seen. */
  version: number;
}

/**
 * The JSON of a channel event: what the SSE stream sends as `data:` and webhooks put in a body. The
 * keys of ChannelEvent, in the order of emit-channel-event.lua's pub/sub message.
 */
export function encodeChannelEvent(event: ChannelEvent): string {
  const { id, type, channel, clientId, sessionId, node, reason, at, occupancy, version } = event;
  const { clients, sessions } = occupancy;
  return JSON.stringify({ id, type, channel, clientId, sessionId, node, reason, at, occupancy: { clients, sessions }, version });
}

/**
 * `<channel>=<id>`: names a channel event among every channel's (its `id` is unique within its
 * channel only), for deduplication; a one-channel cursor (formatChannelCursor) of the event.
 */
export function channelEventRef(event: Pick<ChannelEvent, 'channel' | 'id'>): string {
  return formatChannelCursor(new Map([[event.channel, event.id]]));
}

/** The event of a channel stream entry (fields as written by emit-channel-event.lua). */
export function channelEventFromStreamFields(channel: string, entryId: string, fields: readonly string[]): ChannelEvent {
  const map = streamFieldMap(fields);
  return {
    id: entryId,
    type: (map.get('type') ?? '') as ChannelEventType,
    channel,
    clientId: map.get('clientId') ?? '',
    sessionId: map.get('sessionId') ?? '',
    node: map.get('node') ?? '',
    reason: (map.get('reason') as ChannelLeaveReason | undefined) ?? null,
    at: Number(map.get('at')),
    occupancy: { clients: Number(map.get('clients')), sessions: Number(map.get('sessions')) },
    version: Number(map.get('version')),
  };
}

/** The event of a message on the channel events pub/sub channel; null when it is not one. */
export function channelEventFromMessage(message: string): ChannelEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { id, type, channel, clientId, sessionId, node, reason, at, occupancy, version } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof type !== 'string' || typeof channel !== 'string') return null;
  if (typeof clientId !== 'string' || typeof sessionId !== 'string' || typeof node !== 'string') return null;
  if ((reason !== null && typeof reason !== 'string') || typeof at !== 'number' || typeof version !== 'number') return null;
  if (typeof occupancy !== 'object' || occupancy === null) return null;
  const { clients, sessions } = occupancy as Record<string, unknown>;
  if (typeof clients !== 'number' || typeof sessions !== 'number') return null;
  return {
    id,
    type: type as ChannelEventType,
    channel,
    clientId,
    sessionId,
    node,
    reason: reason as ChannelLeaveReason | null,
    at,
    occupancy: { clients, sessions },
    version,
  };
}

/**
 * A resume point over several channels' streams: `<channel>=<entry id>` pairs joined by `,` (channel
 * names hold neither character). What SSE sends as the `id:` of a channel event stream.
 */
export function formatChannelCursor(positions: ReadonlyMap<string, string>): string {
  return [...positions].map(([channel, id]) => `${channel}=${id}`).join(',');
}

const ENTRY_ID = /^\d{1,20}-\d{1,20}$/;

/** The positions of a channel cursor; null if `text` is not one. */
export function parseChannelCursor(text: string): Map<string, string> | null {
  const positions = new Map<string, string>();
  if (text === '') return positions;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const id = part.slice(eq + 1);
    if (!ENTRY_ID.test(id)) return null;
    positions.set(part.slice(0, eq), id);
  }
  return positions;
}
