import type { OfflineReason } from '@presence/presence-store';
import type { ChannelRequest } from './channel-ops.js';
import type { Connection } from './connection.js';

/** A session: what a HELLO starts on a connection and what Redis knows of it. Plain fields: no closures per session. */
export interface EdgeSession {
  sessionId: string;
  clientId: string;
  shard: number;
  /** The connection that said HELLO (a session never moves to another connection). */
  connection: Connection;
  /** Latest PING state (canonical JSON), or null. */
  stateJson: string | null;
  /** A state write is queued and not yet taken by a flush. */
  stateQueued: boolean;
  /** Redis has confirmed the session (its add succeeded): it is refreshed from now on. */
  registered: boolean;
  /** When Redis first registered it (Redis time), or null. */
  registeredAt: number | null;
  /** Set once the session ended locally; its remove may still be on its way to Redis. */
  endedWith: OfflineReason | null;
  /** Monotonic ms at which it ended locally: turned into Redis time when the end is written. */
  endedAtMono: number | null;
  /** The token's `channels` claim (names, or `prefix*`); null: every channel (no claim, or AUTH_MODE=none). */
  channelRules: readonly string[] | null;
  /** Channel requests not yet sent to Redis, in order (channel-ops.ts); null when none was ever made. */
  channelQueue: ChannelRequest[] | null;
  /** One of its channel requests is in Redis now. */
  channelBusy: boolean;
  /**
   * The channels Redis confirmed it joined (JOINED), with the state last confirmed; null before its
   * first join. If Redis loses the session and the edge registers it again, it joins these again.
   */
  joined: Map<string, string | null> | null;
}
