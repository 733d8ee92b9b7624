/**
 * One client connection, whatever carries it (TCP, WebSocket): its state, its session and
 * the one way it ends, `close(reason)`.
 *
 *   hello ──HELLO──────────────────────────▶ live ──▶ closing ──transport gone──▶ closed
 *     └──HELLO <token>──▶ authenticating ──token good──┘
 *
 * Any open state goes to `closing` (ERR, BYE, timeout, drain, the peer's FIN: the session has ended,
 * the transport flushes and closes) or straight to `closed` (slow reader, transport gone, node stopping).
 * The session core (session-core.ts) decides what frames mean; the transport (tcp-transport.ts, ws-transport.ts)
 * moves bytes. A connection is one object with plain fields and its methods on the prototype: an idle
 * node holds tens of thousands of them (docs/benchmarks.md, optimisation 6).
 */
import type { OfflineReason } from '@presence/presence-store';
import { ProtocolError, byeFrame, errorFrame, type ErrorCode } from '@presence/protocol';
import type { EdgeSession } from './edge-session.js';
import type { IdleTracker, Tracked } from './idle-tracker.js';
import type { SessionCore } from './session-core.js';

/**
 * What the session core needs of a transport, one per connection. The transport hands the connection
 * complete frames without their newline (`receive`) and reports the peer's end (`close('peer_ended')`)
 * and its own (`close('transport_closed')`).
 */
export interface Transport {
  /** Queues one frame, newline included (a message-based transport sends it as one message). */
  write(frame: string | Buffer): void;
  /** Graceful: flush what was written, then close; a peer that lingers is cut off after CLOSE_GRACE_MS. */
  end(): void;
  /** Closes at once; what is unsent is dropped. */
  destroy(): void;
  /** Stops and restarts handing in frames (while a HELLO token is checked). */
  pause(): void;
  resume(): void;
  /** Bytes written that the peer has not taken yet: what the slow-reader limit judges. */
  readonly unsentBytes: number;
  /** The peer's IP address, for the per-address limit. */
  address(): string;
  /** `address:port` of the peer, for logs. */
  remote(): string;
  /** A token the client gave before any frame (WebSocket `?token=`), checked when its HELLO has none. */
  readonly token: string | null;
}

export type ConnectionState = 'hello' | 'authenticating' | 'live' | 'closing' | 'closed';

/** A client that does not read what it is sent is dropped past this many unsent bytes. */
const MAX_UNSENT_BYTES = 64 * 1024;
/** After `ERR` or `BYE` the peer gets this long to close before a transport cuts it off (Transport.end). */
export const CLOSE_GRACE_MS = 2_000;

interface Ending {
  /** How the session ends, if it has not ended yet. */
  offline: OfflineReason;
  /** The last frame the client is sent. */
  farewell: string | null;
  /** Flush and let the peer close first (closing), or cut it off (closed at once). */
  graceful: boolean;
}

/** Every way a connection ends, and what each means for its session and its transport. */
const ENDINGS = {
  /** The client said BYE. */
  leave: { offline: 'leave', farewell: null, graceful: true },
  /** Silent for the heartbeat timeout. */
  timeout: { offline: 'timeout', farewell: byeFrame('timeout'), graceful: true },
  /** The node is draining. */
  shutdown: { offline: 'shutdown', farewell: byeFrame('shutdown'), graceful: true },
  /**
   * The node is fenced (fence.ts): cut off from Redis, it sends its clients elsewhere. The session
   * ends as `shutdown` would (the node stopped serving it, debounced by the offline grace), though
   * Redis hears of it only once the link is back.
   */
  moved: { offline: 'shutdown', farewell: byeFrame('moved'), graceful: true },
  /** A protocol error or a refusal: its `ERR` is the farewell (see `refuse`). */
  error: { offline: 'closed', farewell: null, graceful: true },
  /** The peer closed its side: what is unsent is flushed, then the transport closes. */
  peer_ended: { offline: 'closed', farewell: null, graceful: true },
  /** More than MAX_UNSENT_BYTES unsent: it is not reading, so nothing more is written. */
  slow_reader: { offline: 'closed', farewell: null, graceful: false },
  /** The transport is gone (reset, closed, or the end of a graceful close). */
  transport_closed: { offline: 'closed', farewell: null, graceful: false },
  /** The node is stopping and cuts off what is left. */
  dropped: { offline: 'closed', farewell: null, graceful: false },
} as const satisfies Record<string, Ending>;

export type CloseReason = keyof typeof ENDINGS;

export class Connection implements Tracked {
  readonly core: SessionCore;
  readonly transport: Transport;
  /** Remote IP, read only when the per-address limit is on (null otherwise). */
  readonly address: string | null;
  state: ConnectionState = 'hello';
  session: EdgeSession | null = null;
  /** Frames received while a HELLO token is being checked, handled once it is. */
  held: Buffer[] | null = null;
  /** Start (monotonic ms) of the current one-second window of the frame rate limit, and its count. */
  rateWindowStart = 0;
  rateCount = 0;
  lastActivity = 0;
  trackedAt = 0;
  trackedBy: IdleTracker<Tracked> | null = null;
  trackPrev: Tracked | null = null;
  trackNext: Tracked | null = null;

  constructor(core: SessionCore, transport: Transport, address: string | null) {
    this.core = core;
    this.transport = transport;
    this.address = address;
  }

  /** Takes frames: neither closing nor closed. */
  get open(): boolean {
    return this.state !== 'closing' && this.state !== 'closed';
  }

  /** One complete frame from the transport. Returns false once the connection takes no more frames. */
  receive(frame: Buffer): boolean {
    return this.core.receive(this, frame);
  }

  /**
   * Sends a frame, unless the connection is closing. Safe from anywhere at any time (an answer that
   * arrives after a Redis write, a frame pushed by another part of the node): a connection that has
   * closed meanwhile drops it, and the slow-reader limit applies alike.
   */
  send(frame: string | Buffer): void {
    if (!this.open) return;
    this.transport.write(frame);
    this.checkBacklog();
  }

  /** Drops a peer that does not read what it is sent, so that the node never buffers without bound. */
  checkBacklog(): void {
    if (this.state === 'closed' || this.transport.unsentBytes <= MAX_UNSENT_BYTES) return;
    this.core.logger.warn({ remote: this.transport.remote() }, 'client is not reading; dropping it');
    this.close('slow_reader');
  }

  /** Refuses the client: `ERR <code> <message>`, then closes. */
  refuse(code: ErrorCode, message: string): void {
    if (!this.open) return;
    this.core.metrics.protocolErrors.inc({ code });
    if (this.core.logger.isLevelEnabled('info')) {
      this.core.logger.info({ code, remote: this.transport.remote(), clientId: this.session?.clientId }, 'protocol error; closing');
    }
    this.close('error', errorFrame(code, message));
  }

  /**
   * Handling this connection's input threw. A ProtocolError is the client's doing and carries its code;
   * anything else is the server's, logged and answered `ERR internal_error`, never blamed on the client.
   */
  fail(error: unknown): void {
    if (error instanceof ProtocolError) {
      this.refuse(error.code, error.message);
      return;
    }
    this.core.logger.error({ err: error, remote: this.transport.remote() }, 'unexpected error handling a frame');
    this.refuse('internal_error', 'internal error');
  }

  /**
   * The one way a connection ends; every path (BYE, ERR, timeout, drain, the peer's FIN, slow reader,
   * transport gone) comes here. The first call ends the session (the first reason wins), leaves the
   * idle checks and drops held frames, says the farewell, then either lets the transport close
   * gracefully (`closing`) or cuts it off. Once the transport is gone (or cut off) the connection
   * stops counting against the node's limits (`closed`). Later calls do nothing more.
   */
  close(reason: CloseReason, farewell: string | null = ENDINGS[reason].farewell): void {
    if (this.state === 'closed') return;
    const ending: Ending = ENDINGS[reason];
    if (this.state !== 'closing') {
      this.state = 'closing';
      this.held = null;
      this.core.detach(this, ending.offline);
      if (farewell !== null) this.transport.write(farewell);
      if (ending.graceful) {
        this.transport.end();
        return;
      }
    } else if (ending.graceful) return;
    this.state = 'closed';
    this.core.release(this);
    this.transport.destroy();
  }
}
