import type { Socket } from 'node:net';
import type { OfflineReason } from '@presence/presence-store';
import type { FrameDecoder } from '@presence/protocol';
import type { Tracked } from './idle-tracker.js';

/** One accepted TCP connection and, after HELLO, its session. Plain fields: no closures per socket. */
export interface EdgeConnection extends Tracked {
  socket: Socket;
  decoder: FrameDecoder;
  phase: 'hello' | 'live' | 'closed';
  remote: string;
  session: EdgeSession | null;
}

export interface EdgeSession {
  sessionId: string;
  clientId: string;
  shard: number;
  /** Member in the shard's deadlines set: `<sessionId>|<clientId>`. */
  member: string;
  /** Latest PING state (canonical JSON), or null. */
  stateJson: string | null;
  /** A state write is queued and not yet taken by a flush. */
  stateQueued: boolean;
  /** Redis has confirmed the session (its add succeeded): it is refreshed from now on. */
  registered: boolean;
  /** Set once the session ended locally; its remove may still be on its way to Redis. */
  endedWith: OfflineReason | null;
}
