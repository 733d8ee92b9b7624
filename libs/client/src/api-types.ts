// Shapes of the HTTP API's answers (README, "HTTP API"), as the SDK promises them to its users:
// wider than the server's own types where a newer server may add values (reasons). Redis events are
// decoded by @presence/wire-format, whose PresenceEvent fits this one.

export type PresenceEventType = 'online' | 'offline';

/** `leave`, `closed`, `timeout`, `shutdown`, `expired`; a newer server may add reasons. */
export type OfflineReason = 'leave' | 'closed' | 'timeout' | 'shutdown' | 'expired' | (string & {});

/** One presence transition of a client, as the API streams it and the Redis streams hold it. */
export interface PresenceEvent {
  /** `<shard>-<stream entry id>`: unique, ordered within a client; the idempotency key for consumers. */
  id: string;
  type: PresenceEventType;
  clientId: string;
  sessionId: string;
  node: string;
  /** Set on offline events, null on online events. */
  reason: OfflineReason | null;
  /** Milliseconds since the epoch, Redis time. */
  at: number;
}

export interface SessionView {
  sessionId: string;
  node: string;
  connectedAt: number;
  lastSeenAt: number;
  meta: Record<string, unknown> | null;
  /** Set while a session that ended lingers in the server's offline grace (newer servers). */
  endedAt?: number | null;
}

export interface ClientPresence {
  clientId: string;
  online: boolean;
  onlineSince: number | null;
  sessions: SessionView[];
  lastSeenAt: number | null;
}

export interface QueryResult {
  clientId: string;
  online: boolean;
  lastSeenAt: number | null;
}

export interface ListPage {
  clients: string[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface NodeStats {
  node: string;
  sessions: number;
  lastSeenAt: number;
  alive: boolean;
}

export interface PresenceStats {
  onlineClients: number;
  sessions: number;
  nodes: NodeStats[];
}

export type ChannelEventType = 'join' | 'leave' | 'update';

/** One transition of a client in a channel (docs/protocol.md, "Channel events"). */
export interface ChannelEvent {
  /** The entry id in the channel's stream. */
  id: string;
  type: ChannelEventType;
  channel: string;
  clientId: string;
  sessionId: string;
  node: string;
  /** On `leave`: `left` (LEAVE) or the reason the session ended; null otherwise. */
  reason: string | null;
  at: number;
  occupancy: ChannelOccupancy;
  /** Grows with every event of the channel: drop an event older than one already applied. */
  version: number;
}

export interface ChannelOccupancy {
  clients: number;
  sessions: number;
}

export interface ChannelMemberSession {
  sessionId: string;
  node: string;
  joinedAt: number;
  /** With `state: true` only. */
  state?: Record<string, unknown> | null;
}

export interface ChannelMembersPage extends ChannelOccupancy {
  channel: string;
  members: { clientId: string; sessions: ChannelMemberSession[] }[];
  nextCursor: string | null;
}
