/** Why a session (and, if it was the last one, its client) went offline. */
export const OFFLINE_REASONS = ['leave', 'closed', 'timeout', 'shutdown', 'expired'] as const;
export type OfflineReason = (typeof OFFLINE_REASONS)[number];

export const EVENT_TYPES = ['online', 'offline'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One presence transition of a client, as stored, published and streamed. */
export interface PresenceEvent {
  /** `<shard>-<stream id>`: unique, and ordered within a client. */
  id: string;
  type: EventType;
  clientId: string;
  sessionId: string;
  node: string;
  /** Set on offline events; null on online events. */
  reason: OfflineReason | null;
  /** Milliseconds since the epoch, Redis time. */
  at: number;
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
