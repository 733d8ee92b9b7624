import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors.js';
import { FrameDecoder, MAX_FRAME_BYTES } from './frame-decoder.js';

/** Feeds every chunk and returns the frames as strings (copied, so later pushes can't affect them). */
function decode(decoder: FrameDecoder, chunks: Array<Buffer | string>): string[] {
  const frames: string[] = [];
  for (const chunk of chunks) {
    const ok = decoder.push(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk, (frame) => {
      frames.push(frame.toString('latin1'));
      return true;
    });
    expect(ok).toBe(true);
  }
  return frames;
}

function decodeAll(chunks: Array<Buffer | string>): string[] {
  return decode(new FrameDecoder(), chunks);
}

/** Runs `fn` and returns the ProtocolError it throws (failing the test if it throws anything else or nothing). */
function protocolErrorOf(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error('expected a ProtocolError, but nothing was thrown');
}

const ignore = (): boolean => true;

describe('FrameDecoder', () => {
  it('has a 4096-byte default limit', () => {
    expect(MAX_FRAME_BYTES).toBe(4096);
  });

  it('splits many frames in one chunk, in order', () => {
    expect(decodeAll(['PING\nHELLO alice\nBYE\n'])).toEqual(['PING', 'HELLO alice', 'BYE']);
  });

  it('holds back an incomplete trailing frame until its newline arrives', () => {
    const decoder = new FrameDecoder();
    expect(decode(decoder, ['PING\nHEL'])).toEqual(['PING']);
    expect(decoder.bufferedBytes).toBe(3);
    expect(decode(decoder, ['LO al'])).toEqual([]);
    expect(decoder.bufferedBytes).toBe(8);
    expect(decode(decoder, ['ice\nBYE\n'])).toEqual(['HELLO alice', 'BYE']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('reassembles one frame split over many chunks', () => {
    expect(decodeAll(['HE', 'LL', 'O ', 'ali', 'ce', '\n'])).toEqual(['HELLO alice']);
  });

  it('reassembles a frame delivered byte by byte', () => {
    const text = 'PING {"a":1}\r\nHELLO bob tok\n\nBYE\r\n';
    const chunks = [...Buffer.from(text)].map((byte) => Buffer.from([byte]));
    expect(decodeAll(chunks)).toEqual(['PING {"a":1}', 'HELLO bob tok', '', 'BYE']);
  });

  it('strips CRLF when the chunk boundary falls between \\r and \\n', () => {
    const decoder = new FrameDecoder();
    expect(decode(decoder, ['PING\r'])).toEqual([]);
    expect(decoder.bufferedBytes).toBe(5);
    expect(decode(decoder, ['\nBYE\r', '\n'])).toEqual(['PING', 'BYE']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('strips exactly one trailing \\r', () => {
    expect(decodeAll(['PING\r\n'])).toEqual(['PING']);
    expect(decodeAll(['PING\r\r\n'])).toEqual(['PING\r']);
    expect(decodeAll(['a\rb\n'])).toEqual(['a\rb']);
    expect(decodeAll(['\r\r\n'])).toEqual(['\r']);
  });

  it('yields empty frames for bare newlines and bare CRLFs', () => {
    expect(decodeAll(['\n\r\n\n'])).toEqual(['', '', '']);
    expect(decodeAll(['\r', '\n'])).toEqual(['']);
  });

  it('keeps nothing buffered for an empty chunk', () => {
    const decoder = new FrameDecoder();
    expect(decode(decoder, [Buffer.alloc(0)])).toEqual([]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('hands out frames as bytes, without decoding them', () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x0a]);
    const frames: Buffer[] = [];
    new FrameDecoder().push(bytes, (frame) => {
      frames.push(Buffer.from(frame));
      return true;
    });
    expect(frames).toEqual([Buffer.from([0xff, 0x00, 0xfe])]);
  });

  it('accepts a frame of exactly 4096 bytes including its newline', () => {
    const body = 'x'.repeat(MAX_FRAME_BYTES - 1);
    expect(decodeAll([`${body}\n`])).toEqual([body]);
  });

  it('accepts a 4096-byte frame that arrives in pieces', () => {
    const body = 'y'.repeat(MAX_FRAME_BYTES - 1);
    const decoder = new FrameDecoder();
    expect(decode(decoder, [body.slice(0, 1000), body.slice(1000)])).toEqual([]);
    expect(decoder.bufferedBytes).toBe(MAX_FRAME_BYTES - 1);
    expect(decode(decoder, ['\n'])).toEqual([body]);
  });

  it('counts the \\r of a CRLF towards the limit', () => {
    const body = 'z'.repeat(MAX_FRAME_BYTES - 2);
    expect(decodeAll([`${body}\r\n`])).toEqual([body]);
    const error = protocolErrorOf(() => decodeAll([`${body}z\r\n`]));
    expect(error.code).toBe('frame_too_large');
  });

  it('rejects a frame of 4097 bytes including its newline with frame_too_large', () => {
    const error = protocolErrorOf(() => new FrameDecoder().push(Buffer.from(`${'x'.repeat(MAX_FRAME_BYTES)}\n`), ignore));
    expect(error.code).toBe('frame_too_large');
    expect(error.name).toBe('ProtocolError');
  });

  it('delivers the frames before an oversized one, then rejects', () => {
    const frames: string[] = [];
    const decoder = new FrameDecoder();
    const error = protocolErrorOf(() =>
      decoder.push(Buffer.from(`PING\nBYE\n${'x'.repeat(MAX_FRAME_BYTES)}\nPING\n`), (frame) => {
        frames.push(frame.toString());
        return true;
      }),
    );
    expect(error.code).toBe('frame_too_large');
    expect(frames).toEqual(['PING', 'BYE']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects a partial frame as soon as it passes the limit, without waiting for a newline', () => {
    // 4095 bytes without a newline would still fit (4096 with it)...
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from('x'.repeat(MAX_FRAME_BYTES - 1)), ignore);
    expect(decoder.bufferedBytes).toBe(MAX_FRAME_BYTES - 1);
    // ...one more byte cannot.
    const error = protocolErrorOf(() => decoder.push(Buffer.from('x'), ignore));
    expect(error.code).toBe('frame_too_large');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects a single chunk of 4096 bytes without a newline', () => {
    const decoder = new FrameDecoder();
    const error = protocolErrorOf(() => decoder.push(Buffer.alloc(MAX_FRAME_BYTES, 0x61), ignore));
    expect(error.code).toBe('frame_too_large');
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('never buffers more than 4095 bytes while an endless frame trickles in', () => {
    const decoder = new FrameDecoder();
    let maxBuffered = 0;
    let thrown: unknown = null;
    let pushed = 0;
    for (let i = 0; i < 2 * MAX_FRAME_BYTES && thrown === null; i += 7) {
      try {
        decoder.push(Buffer.alloc(7, 0x61), ignore);
        pushed += 7;
      } catch (error) {
        thrown = error;
      }
      maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect((thrown as ProtocolError).code).toBe('frame_too_large');
    expect(maxBuffered).toBeLessThanOrEqual(MAX_FRAME_BYTES - 1);
    // It gave up on the first chunk that took the frame past the limit.
    expect(pushed).toBeLessThan(MAX_FRAME_BYTES);
    expect(pushed + 7).toBeGreaterThanOrEqual(MAX_FRAME_BYTES);
  });

  it('honours a custom limit', () => {
    const decoder = new FrameDecoder(8);
    expect(decode(decoder, ['1234567\n'])).toEqual(['1234567']);
    expect(protocolErrorOf(() => decoder.push(Buffer.from('12345678\n'), ignore)).code).toBe('frame_too_large');
    const other = new FrameDecoder(8);
    other.push(Buffer.from('1234567'), ignore);
    expect(protocolErrorOf(() => other.push(Buffer.from('8'), ignore)).code).toBe('frame_too_large');
  });

  it('stops delivering when onFrame returns false', () => {
    const seen: string[] = [];
    const result = new FrameDecoder().push(Buffer.from('PING\nBYE\nPING\n'), (frame) => {
      seen.push(frame.toString());
      return frame.toString() !== 'BYE';
    });
    expect(result).toBe(false);
    expect(seen).toEqual(['PING', 'BYE']);
  });

  it('returns false when the very first frame is refused', () => {
    const seen: string[] = [];
    const result = new FrameDecoder().push(Buffer.from('BYE\nPING\n'), (frame) => {
      seen.push(frame.toString());
      return false;
    });
    expect(result).toBe(false);
    expect(seen).toEqual(['BYE']);
  });

  it('yields exactly the lines for any split of their concatenation into chunks', () => {
    const line = fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes.filter((b) => b !== 0x0a)));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 30 }), (lines, crlf, cutSeeds) => {
        const terminator = Buffer.from(crlf ? '\r\n' : '\n');
        const stream = Buffer.concat(lines.flatMap((l) => [l, terminator]));
        const cuts = [...new Set(cutSeeds.map((seed) => (stream.length === 0 ? 0 : seed % stream.length)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          chunks.push(stream.subarray(from, cut));
          from = cut;
        }
        const frames: Buffer[] = [];
        const decoder = new FrameDecoder();
        for (const chunk of chunks) {
          const ok = decoder.push(chunk, (frame) => {
            frames.push(Buffer.from(frame));
            return true;
          });
          expect(ok).toBe(true);
        }
        // With a bare LF, a line that itself ends in `\r` loses that `\r`: that is the documented CRLF rule.
        const expected = lines.map((l) => (!crlf && l.at(-1) === 0x0d ? l.subarray(0, -1) : l));
        expect(frames).toEqual(expected);
        expect(decoder.bufferedBytes).toBe(0);
      }),
    );
  });

  it('yields exactly the text lines for any split, whatever the characters', () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\n') && !s.endsWith('\r'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (lines, cutSeeds) => {
        const stream = Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
        const cuts = [...new Set(cutSeeds.map((seed) => (stream.length === 0 ? 0 : seed % stream.length)))].sort((a, b) => a - b);
        const frames: string[] = [];
        const decoder = new FrameDecoder();
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          decoder.push(stream.subarray(from, cut), (frame) => {
            frames.push(frame.toString('utf8'));
            return true;
          });
          from = cut;
        }
        expect(frames).toEqual(lines);
      }),
    );
  });

  it('never buffers 4096 bytes or more, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 10 }),
        fc.integer({ min: 0, max: 255 }),
        (chunks, newlineByte) => {
          const decoder = new FrameDecoder();
          for (const chunk of chunks) {
            // Make newlines rare-ish so long frames actually happen.
            const bytes = Buffer.from(chunk.map((b) => (b === 0x0a && newlineByte % 2 === 0 ? 0x41 : b)));
            try {
              decoder.push(bytes, (frame) => {
                expect(frame.length).toBeLessThan(MAX_FRAME_BYTES);
                expect(frame.includes(0x0a)).toBe(false);
                return true;
              });
            } catch (error) {
              expect(error).toBeInstanceOf(ProtocolError);
              expect((error as ProtocolError).code).toBe('frame_too_large');
              return;
            }
            expect(decoder.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME_BYTES - 1);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
