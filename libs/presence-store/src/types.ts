/**
 * A session a refresh renews. An edge's own session records fit as they are (no object, no string
 * built per session per refresh).
 */
export interface SessionRef {
  readonly sessionId: string;
  readonly clientId: string;
  /**
   * The client's shard (`keys.shardOf(clientId)`) if the caller keeps it, as an edge does: a refresh
   * then spares a CRC16 of every client id every SESSION_REFRESH_MS. Computed when absent.
   */
  readonly shard?: number;
}

export interface SessionView {
  sessionId: string;
  node: string;
  connectedAt: number;
  /** When the session's edge node last vouched for it (its latest deadline refresh). */
  lastSeenAt: number;
  /** The state of the session's latest `PING <json>`, or null. */
  meta: Record<string, unknown> | null;
  /**
   * Set while the session lingers in its offline grace: its connection ended (closed, or its node
   * shut down) at this time, and the client counts as online until the grace is over.
   */
  endedAt: number | null;
}

export interface ClientPresence {
  clientId: string;
  online: boolean;
  /** Since when the client is online (its first session of the current run), or null. */
  onlineSince: number | null;
  sessions: SessionView[];
  /** Online: now (Redis time). Offline: when its last session ended, if known. */
  lastSeenAt: number | null;
}

export interface QueryResult {
  clientId: string;
  online: boolean;
  lastSeenAt: number | null;
}

export interface NodeView {
  node: string;
  sessions: number;
  startedAt: number;
  lastSeenAt: number;
  /** The version the node runs (its package's), or null when its record has none. */
  version: string | null;
  /** False once its liveness deadline passed (crashed or cut off). */
  alive: boolean;
}

export interface PresenceStats {
  onlineClients: number;
  sessions: number;
  nodes: NodeView[];
}

export interface SweepResult {
  removed: number;
  offline: number;
  more: boolean;
  /** Redis time of the sweep (ms). */
  now: number;
  /** The earliest deadline still in the shard (ms, Redis time); null when it holds no session. */
  nextDeadline: number | null;
  /** The call reached Redis after its `notAfter` and swept nothing. */
  late: boolean;
}

export interface SweepOptions {
  /** Also forget last-seen times older than the last-seen TTL (default true). */
  trimLastSeen?: boolean;
  /** Redis time (ms) after which the call must not sweep: see sweep-6.lua. */
  notAfter?: number | null;
}
