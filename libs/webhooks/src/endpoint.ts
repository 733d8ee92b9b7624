import {
  CHANNEL_EVENT_TYPES,
  EVENT_TYPES,
  channelEventRef,
  encodeChannelEvent,
  type ChannelEvent,
  type PresenceEvent,
} from '@presence/wire-format';
import type { OutgoingEvent } from './webhook-store.js';

/** The event types an endpoint may take: a client's online/offline, and the join/leave/update of its channels. */
export const WEBHOOK_EVENT_TYPES = [...EVENT_TYPES, ...CHANNEL_EVENT_TYPES] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Most channels one endpoint may name: each is a source the fan-out reads (a stream read per
 * WEBHOOK_POLL_MS) and a lane every delivery of the endpoint reads.
 */
export const MAX_ENDPOINT_CHANNELS = 100;

/** What webhooks deliver: a client's presence event (from a shard stream) or a channel event (from its channel's stream). */
export type WebhookEvent = PresenceEvent | ChannelEvent;

export function isChannelEvent(event: WebhookEvent): event is ChannelEvent {
  return 'channel' in event;
}

/**
 * Which of the events of the types an endpoint takes it receives. Every condition set must hold;
 * an empty list sets none, except `channels`: channel events come only from the channels named.
 */
export interface EndpointFilter {
  /** Only events of clients whose id starts with one of these. */
  clientIdPrefixes: string[];
  /**
   * Exact channel names: their join, leave and update events (of the types the endpoint takes).
   * They say nothing about online/offline events, which belong to no channel.
   */
  channels: string[];
}

/** Where an endpoint comes from: the admin API, or WEBHOOK_URLS (the operator's, so the address guard does not apply). */
export type EndpointSource = 'api' | 'config';

/** A webhook endpoint as stored in Redis (docs/webhooks.md). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  /** Signs every request to it (Presence-Signature). */
  secret: string;
  /** Event types it receives (WEBHOOK_EVENT_TYPES). */
  events: string[];
  filter: EndpointFilter;
  source: EndpointSource;
  /** Redis time (ms) it was registered: events from before that are not delivered to it. */
  createdAt: number;
  description: string | null;
}

/** Whether `event` goes to `endpoint`: its type, and every condition of its filter. */
export function endpointWants(endpoint: WebhookEndpoint, event: WebhookEvent): boolean {
  if (!endpoint.events.includes(event.type)) return false;
  const { clientIdPrefixes, channels } = endpoint.filter;
  if (isChannelEvent(event) && !channels.includes(event.channel)) return false;
  if (clientIdPrefixes.length > 0 && !clientIdPrefixes.some((prefix) => event.clientId.startsWith(prefix))) return false;
  return true;
}

/** Whether the endpoint takes online/offline events, which come from the shard streams. */
export function takesPresenceEvents(endpoint: Pick<WebhookEndpoint, 'events'>): boolean {
  return endpoint.events.some((type) => (EVENT_TYPES as readonly string[]).includes(type));
}

/**
 * An event as queued for delivery: `id` is what Presence-Event-Ids lists (a presence event's id,
 * unique across shards; for a channel event `<channel>=<id>`, since its id is unique within its
 * channel only), `json` what the body carries: the JSON the SSE stream sends for it.
 */
export function outgoingEvent(event: WebhookEvent): OutgoingEvent {
  if (isChannelEvent(event)) return { id: channelEventRef(event), at: event.at, json: encodeChannelEvent(event) };
  return { id: event.id, at: event.at, json: JSON.stringify(event) };
}

export function encodeEndpoint(endpoint: WebhookEndpoint): string {
  return JSON.stringify(endpoint);
}

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The endpoint a registry entry holds; null when the entry is not one (checked, not cast). */
export function decodeEndpoint(json: string): WebhookEndpoint | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { id, url, secret, events, filter, source, createdAt, description } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof url !== 'string' || typeof secret !== 'string' || !isStrings(events)) return null;
  if (source !== 'api' && source !== 'config') return null;
  if (typeof createdAt !== 'number' || (description !== null && typeof description !== 'string')) return null;
  const { clientIdPrefixes, channels = [] } = (filter ?? {}) as { clientIdPrefixes?: unknown; channels?: unknown };
  // Endpoints registered before channel events existed have no `channels`.
  if (!isStrings(clientIdPrefixes) || !isStrings(channels)) return null;
  return { id, url, secret, events, filter: { clientIdPrefixes, channels }, source, createdAt, description };
}
