// Shapes of the HTTP API's answers (README, "HTTP API"). Kept here rather than imported from the
// server's store so that the SDK depends on the wire format only.

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
