import { streamFieldMap } from './stream-fields.js';

/**
 * Presence events as Redis holds them: a stream entry per event in its shard's stream, and the same
 * event as JSON on the events channel. Both are written by lua/includes/emit-event.lua in
 * libs/presence-store (the JSON concatenated by hand, for speed; an integration test holds it
 * against `eventFromMessage`). Everything that reads them decodes them here.
 *
 * Channel presence will add event types and fields: a type is one more entry in EVENT_TYPES, a
 * field one more line in each decoder.
 */

export const EVENT_TYPES = ['online', 'offline'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Why a session (and, if it was the last one, its client) went offline. */
export const OFFLINE_REASONS = ['leave', 'closed', 'timeout', 'shutdown', 'expired'] as const;
export type OfflineReason = (typeof OFFLINE_REASONS)[number];

/** One presence transition of a client, as stored, published and streamed. */
export interface PresenceEvent {
  /** `<shard>-<stream entry id>`: unique, and ordered within a client. */
  id: string;
  type: EventType;
  clientId: string;
  sessionId: string;
  node: string;
  /** Set on offline events; null on online events. */
  reason: OfflineReason | null;
  /**
   * Milliseconds since the epoch, Redis time: when the transition happened. For `expired`, when the
   * session's node last vouched for it (it was last known to be there); the event itself is written
   * later, when the sweep finds its deadline passed (see `eventWrittenAt`).
   */
  at: number;
}

/** An event's id: its shard, then its entry id in that shard's stream. */
export function eventId(shard: number, entryId: string): string {
  return `${shard}-${entryId}`;
}

const EVENT_ID = /^(\d{1,9})-(\d{1,20}-\d{1,20})$/;

/** The shard and stream entry id of an event id; null if `id` is not one. */
export function parseEventId(id: string): { shard: number; entryId: string } | null {
  const match = EVENT_ID.exec(id);
  if (match === null) return null;
  return { shard: Number(match[1]), entryId: match[2] as string };
}

/** When an event was written to its stream (Redis time, ms: its entry id's first part); null if `id` is not an event id. */
export function eventWrittenAt(id: string): number | null {
  const parsed = parseEventId(id);
  return parsed === null ? null : Number(parsed.entryId.slice(0, parsed.entryId.indexOf('-')));
}

/**
 * The event of a stream entry, from its field/value list (`type`, `clientId`, `sessionId`, `node`,
 * `at`, and `reason` on offline events). Values are taken as written, not checked against
 * EVENT_TYPES or OFFLINE_REASONS: a reader older than the writer passes a newer type or reason on.
 */
export function eventFromStreamFields(shard: number, entryId: string, fields: readonly string[]): PresenceEvent {
  const map = streamFieldMap(fields);
  return {
    id: eventId(shard, entryId),
    type: (map.get('type') ?? '') as EventType,
    clientId: map.get('clientId') ?? '',
    sessionId: map.get('sessionId') ?? '',
    node: map.get('node') ?? '',
    reason: (map.get('reason') as OfflineReason | undefined) ?? null,
    at: Number(map.get('at')),
  };
}

/**
 * The event of a message on the events channel (JSON with the keys of PresenceEvent); null when
 * the message is not one. Type and reason are taken as written, as in `eventFromStreamFields`.
 */
export function eventFromMessage(message: string): PresenceEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { id, type, clientId, sessionId, node, reason, at } = value as Record<string, unknown>;
  if (typeof id !== 'string' || parseEventId(id) === null) return null;
  if (typeof type !== 'string' || typeof clientId !== 'string' || typeof sessionId !== 'string' || typeof node !== 'string') return null;
  if ((reason !== null && typeof reason !== 'string') || typeof at !== 'number') return null;
  return { id, type: type as EventType, clientId, sessionId, node, reason: reason as OfflineReason | null, at };
}
