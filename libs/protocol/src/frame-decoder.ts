import { ProtocolError } from './errors.js';

/** Largest frame in bytes, including the terminating `\n`. */
export const MAX_FRAME_BYTES = 4096;

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a TCP byte stream into newline-terminated frames. Handles many frames in one chunk and one
 * frame split over many chunks; a trailing `\r` is dropped. Frames are handed out as Buffers so that
 * the hot path (a bare `PING`) never decodes text. Memory is bounded: at most one partial frame of
 * less than MAX_FRAME_BYTES is kept between chunks.
 */
export class FrameDecoder {
  private pending: Buffer | null = null;
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes: number = MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes of an incomplete frame held since the last chunk. */
  get bufferedBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }

  /**
   * Feeds one chunk. Calls `onFrame` for each complete frame in order; stops and returns false after
   * `onFrame` returns false (the caller closed the connection). Throws ProtocolError(frame_too_large)
   * when a frame is longer than the limit, before buffering it.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean): boolean {
    let data = chunk;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let start = 0;
    let newline = data.indexOf(LF, start);
    while (newline !== -1) {
      if (newline - start + 1 > this.maxFrameBytes) throw this.tooLarge();
      let end = newline;
      if (end > start && data[end - 1] === CR) end -= 1;
      if (!onFrame(data.subarray(start, end))) return false;
      start = newline + 1;
      newline = data.indexOf(LF, start);
    }
    const rest = data.length - start;
    if (rest > 0) {
      // Without its newline the frame is already rest + 1 bytes long.
      if (rest + 1 > this.maxFrameBytes) throw this.tooLarge();
      this.pending = Buffer.from(data.subarray(start));
    }
    return true;
  }

  private tooLarge(): ProtocolError {
    this.pending = null;
    return new ProtocolError('frame_too_large', `a frame may be at most ${this.maxFrameBytes} bytes including its newline`);
  }
}
