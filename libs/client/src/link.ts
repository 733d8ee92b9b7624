/**
 * What the presence client needs of a connection to an edge, whatever carries it: frames out, frames
 * in, and one report of its end. tcp-link.ts frames a byte stream with newlines; ws-link.ts sends one
 * frame per WebSocket message. The client (presence-client.ts) knows only this.
 */
export interface LinkHandlers {
  /** One frame from the server, without its newline. */
  frame(line: string): void;
  /** The connection is gone (once); `error` says why when it did not close cleanly. */
  closed(error: Error | null): void;
}

export interface Link {
  /** Queues one frame (no newline); frames written before the connection is open go out once it is. */
  send(frame: string): void;
  /** Sends a last frame, then closes gracefully; `closed` follows once the server has closed too. */
  end(lastFrame: string): void;
  /** Closes at once. */
  destroy(): void;
}

/** Where a link goes: a TCP host and port, or a WebSocket URL (`url` set). */
export interface Endpoint {
  host: string;
  port: number;
  /** `ws://` or `wss://` URL of a WebSocket endpoint; absent for TCP. */
  url?: string;
}
