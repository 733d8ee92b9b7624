import type { Socket } from 'node:net';
import type { OfflineReason } from '@presence/presence-store';
import type { FrameDecoder } from '@presence/protocol';
import type { Tracked } from './idle-tracker.js';

/** One accepted TCP connection and, after HELLO, its session. Plain fields: no closures per socket. */
export interface EdgeConnection extends Tracked {
  socket: Socket;
  decoder: FrameDecoder;
  phase: 'hello' | 'authenticating' | 'live' | 'closed';
  /** Remote IP, read only when the per-address limit is on (null otherwise). */
  address: string | null;
  session: EdgeSession | null;
  /** Start (monotonic ms) of the current one-second window of the frame rate limit, and its count. */
  rateWindowStart: number;
  rateCount: number;
  /** Frames received while a HELLO token is being verified, handled once it is. */
  held: Buffer[] | null;
}

export interface EdgeSession {
  sessionId: string;
  clientId: string;
  shard: number;
  /** Member in the shard's deadlines set: `<sessionId>|<clientId>`. */
  member: string;
  /** The connection that said HELLO (a session never moves to another connection). */
  connection: EdgeConnection;
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
}
