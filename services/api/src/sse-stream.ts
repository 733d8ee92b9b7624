import type { Request, Response } from 'express';

export interface SseStreamOptions {
  /** A comment line is sent this often, so proxies and clients know an idle stream is alive. */
  keepAliveMs: number;
  /** Bytes the reader may leave unread; over it, the stream is cut (the reader can resume). */
  maxBufferBytes: number;
  /** Told when a reader was cut for not reading, with its unread bytes. */
  onSlowReader: (buffered: number) => void;
}

/**
 * One SSE response. Every way it ends (the peer leaves, the server ends it, a slow reader is cut)
 * goes through `close`, which runs once: it stops the keep-alive, runs what was deferred (the
 * event subscription's release) and ends or destroys the response.
 */
export class SseStream {
  private readonly res: Response;
  private readonly options: SseStreamOptions;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly releases: (() => void)[] = [];
  private open = true;
  private judgedThisTurn = false;

  constructor(req: Request, res: Response, options: SseStreamOptions) {
    this.res = res;
    this.options = options;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    this.keepAlive = setInterval(() => this.write(': keepalive\n\n'), options.keepAliveMs);
    // The response's close is the connection's: the request's fires as soon as a body was read.
    res.on('close', () => this.close());
    // A body on this GET is ignored, but read, or Node stops reading the socket and never sees the
    // subscriber leave.
    req.resume();
  }

  get closed(): boolean {
    return !this.open;
  }

  /** Runs `release` when the stream closes (at once if it already has). */
  onClose(release: () => void): void {
    if (this.open) this.releases.push(release);
    else release();
  }

  /**
   * Writes `chunk` unless the stream is closed or its reader is too slow. A slow reader is judged
   * once per event-loop turn, before that turn's writes: the hub hands out a page of events at a
   * time, so a healthy reader may hold a page's worth between turns. One whose backlog is still over
   * the limit when the next batch comes is cut. The most a reader can cost is the limit plus one page.
   */
  write(chunk: string): void {
    if (!this.open) return;
    if (!this.judgedThisTurn) {
      this.judgedThisTurn = true;
      setImmediate(() => {
        this.judgedThisTurn = false;
      });
      // Bytes accepted but not yet taken by the kernel. Node counts them on the socket and, while
      // the response is corked, on the response: never both, so the larger is the backlog.
      const buffered = Math.max(this.res.writableLength, this.res.socket?.writableLength ?? 0);
      if (buffered > this.options.maxBufferBytes) {
        this.options.onSlowReader(buffered);
        this.close('destroy');
        return;
      }
    }
    this.res.write(chunk);
  }

  /** The one teardown: `end` finishes the response cleanly, `destroy` cuts the connection (unsent bytes are dropped). */
  close(how: 'end' | 'destroy' = 'end'): void {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.keepAlive);
    for (const release of this.releases.splice(0)) release();
    if (how === 'destroy') this.res.destroy();
    else this.res.end();
  }
}
