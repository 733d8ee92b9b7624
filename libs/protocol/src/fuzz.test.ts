import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ProtocolError, type ErrorCode } from './errors.js';
import { FrameDecoder, MAX_FRAME_BYTES } from './frame-decoder.js';
import { MAX_STATE_BYTES, MAX_TOKEN_LENGTH, parseClientFrame, type ClientMessage } from './messages.js';
import { errorFrame } from './server-frames.js';

/**
 * Property-based fuzzing of the edge's input path as the edge runs it: bytes in arbitrary chunks
 * go through one FrameDecoder, each frame through parseClientFrame, and the first error ends the
 * connection. The unit tests beside this file cover each piece; these cover them together.
 */

/** Codes the decoder may throw, and codes the parser may throw: the rest belong to the edge itself. */
const DECODER_CODES: readonly ErrorCode[] = ['frame_too_large'];
const PARSER_CODES: readonly ErrorCode[] = ['bad_frame', 'bad_client_id', 'bad_state'];
/** The most a decoder may hold between chunks: one partial frame, shorter than a frame. */
const MAX_BUFFERED = MAX_FRAME_BYTES - 1;
/** Range of MAX_STATE_BYTES the edge's config accepts (services/edge/src/config.ts). */
const CONFIG_STATE_MIN = 2;
const CONFIG_STATE_MAX = 4_000;

type Outcome = { kind: 'message'; message: ClientMessage } | { kind: 'error'; code: ErrorCode; message: string };

function asProtocolError(error: unknown): ProtocolError {
  // Anything else (a TypeError, a RangeError from deep JSON) is a crash of the connection handler.
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

/**
 * What a connection sees for these chunks, the way the edge drives the decoder: frames are parsed
 * as they come, the first error (from the decoder or the parser) ends the connection, and nothing
 * after it is looked at. Checks after every chunk that the decoder holds at most one partial frame.
 */
function runConnection(chunks: readonly Uint8Array[], maxStateBytes = MAX_STATE_BYTES): { outcomes: Outcome[]; maxBuffered: number } {
  const decoder = new FrameDecoder();
  const outcomes: Outcome[] = [];
  let maxBuffered = 0;
  for (const chunk of chunks) {
    let failed = false;
    try {
      decoder.push(Buffer.from(chunk), (frame) => {
        try {
          outcomes.push({ kind: 'message', message: parseClientFrame(frame, maxStateBytes) });
          return true;
        } catch (error) {
          const protocolError = asProtocolError(error);
          expect(PARSER_CODES).toContain(protocolError.code);
          outcomes.push({ kind: 'error', code: protocolError.code, message: protocolError.message });
          failed = true;
          return false;
        }
      });
    } catch (error) {
      const protocolError = asProtocolError(error);
      expect(DECODER_CODES).toContain(protocolError.code);
      outcomes.push({ kind: 'error', code: protocolError.code, message: protocolError.message });
      failed = true;
    }
    maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
    if (failed) break;
  }
  return { outcomes, maxBuffered };
}

/**
 * An independent model of the same pipeline over the whole stream at once: split at LF, drop one
 * trailing CR, reject a line longer than the limit (or an unterminated tail that reached it).
 */
function modelConnection(stream: Uint8Array, maxStateBytes = MAX_STATE_BYTES): Outcome[] {
  const outcomes: Outcome[] = [];
  let start = 0;
  for (;;) {
    const newline = stream.indexOf(0x0a, start);
    const end = newline === -1 ? stream.length : newline;
    // A frame counts its newline; an unterminated one is already one byte longer than what arrived.
    if (end - start + 1 > MAX_FRAME_BYTES) {
      outcomes.push({ kind: 'error', code: 'frame_too_large', message: '' });
      return outcomes;
    }
    if (newline === -1) return outcomes;
    let frameEnd = newline;
    if (frameEnd > start && stream[frameEnd - 1] === 0x0d) frameEnd -= 1;
    try {
      outcomes.push({ kind: 'message', message: parseClientFrame(Buffer.from(stream.subarray(start, frameEnd)), maxStateBytes) });
    } catch (error) {
      const protocolError = asProtocolError(error);
      outcomes.push({ kind: 'error', code: protocolError.code, message: '' });
      return outcomes;
    }
    start = newline + 1;
  }
}

/** Messages and error codes only: error texts are for humans and may differ between the two. */
const comparable = (outcomes: Outcome[]) => outcomes.map((o) => (o.kind === 'error' ? { kind: 'error', code: o.code } : o));

/** Cuts a stream at the given seeds (taken modulo its length) into consecutive chunks. */
function split(stream: Uint8Array, cutSeeds: readonly number[]): Uint8Array[] {
  const cuts = [...new Set(cutSeeds.map((seed) => (stream.length === 0 ? 0 : seed % stream.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    chunks.push(stream.subarray(from, cut));
    from = cut;
  }
  return chunks;
}

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));
const raw = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Byte sequences that are not UTF-8 whatever follows them (overlong, surrogate, beyond U+10FFFF, never-valid bytes). */
const ALWAYS_INVALID_UTF8 = [
  raw(0xff),
  raw(0xfe),
  raw(0xc0, 0x80),
  raw(0xc1, 0xbf),
  raw(0xe0, 0x80, 0xaf),
  raw(0xed, 0xa0, 0x80),
  raw(0xed, 0xbf, 0xbf),
  raw(0xf4, 0x90, 0x80, 0x80),
  raw(0xf5, 0x80, 0x80, 0x80),
  raw(0xf8, 0x88, 0x80, 0x80, 0x80),
];
/** Sequences cut short: invalid when followed by ASCII (a continuation byte could complete them). */
const TRUNCATED_UTF8 = [raw(0xc3), raw(0xe2, 0x98), raw(0xf0, 0x9f, 0x98), raw(0x80), raw(0xbf)];

/** Pieces a hostile or broken client sends, weighted towards what reaches deep into the parser. */
const fragment: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom('HELLO ', 'PING', 'PING ', 'BYE', ' ', '\n', '\r\n', '\r', '{', '}', '[', ']', '"', ':', ',', '\\', '\0', '\t')
      .map(bytes),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom('alice', 'a:b@c.d_e-f', 'a{b}', 'tok.en.sig', '1e999999', '"__proto__"', 'null', '☕', '\u{1F600}', '\uFEFF')
      .map(bytes),
  },
  { weight: 2, arbitrary: fc.constantFrom(...ALWAYS_INVALID_UTF8, ...TRUNCATED_UTF8) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => bytes(JSON.stringify(value) ?? 'null')) },
  // Long runs without a newline: the frame limit must cut them off.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 6_000 }), fc.constantFrom(0x61, 0x5b, 0x00, 0xff))
      .map(([n, b]) => new Uint8Array(n).fill(b)),
  },
);
/** A line of fragments, often behind a real verb so that the argument parsers get the garbage. */
const garbageLine = fc
  .tuple(fc.constantFrom('', 'HELLO ', 'HELLO ok ', 'PING ', 'PING {"a":'), fc.array(fragment, { minLength: 1, maxLength: 12 }))
  .map(([verb, parts]) => Buffer.concat([Buffer.from(verb), ...parts]));
const validLine = fc
  .oneof(
    fc.constantFrom('', 'PING', 'BYE', 'PING {}'),
    fc.stringMatching(/^[A-Za-z0-9._:@-]{1,128}$/).map((id) => `HELLO ${id}`),
    fc
      .tuple(fc.stringMatching(/^[A-Za-z0-9._:@-]{1,20}$/), fc.stringMatching(/^[\x21-\x7e]{1,40}$/))
      .map(([id, token]) => `HELLO ${id} ${token}`),
    fc
      .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 })
      .map((state) => `PING ${JSON.stringify(state)}`),
  )
  .map((line) => Buffer.from(line));
/** Lines, mostly valid so that streams get deep before the first error, with mixed terminators and a tail. */
const stream = fc
  .tuple(
    fc.array(
      fc.tuple(fc.oneof({ weight: 3, arbitrary: validLine }, { weight: 1, arbitrary: garbageLine }), fc.constantFrom('\n', '\r\n')),
      { maxLength: 30 },
    ),
    fc.option(garbageLine),
  )
  .map(
    ([lines, tail]) =>
      new Uint8Array(Buffer.concat([...lines.flatMap(([line, end]) => [line, Buffer.from(end)]), tail ?? Buffer.alloc(0)])),
  );
const cutSeeds = fc.array(fc.nat(), { maxLength: 40 });

function outcomeOf(frame: string | Uint8Array, maxStateBytes = MAX_STATE_BYTES): Outcome {
  try {
    return { kind: 'message', message: parseClientFrame(Buffer.from(typeof frame === 'string' ? bytes(frame) : frame), maxStateBytes) };
  } catch (error) {
    const protocolError = asProtocolError(error);
    return { kind: 'error', code: protocolError.code, message: protocolError.message };
  }
}

function codeOf(frame: string | Uint8Array, maxStateBytes = MAX_STATE_BYTES): ErrorCode | 'accepted' {
  const outcome = outcomeOf(frame, maxStateBytes);
  return outcome.kind === 'error' ? outcome.code : 'accepted';
}

function pingState(json: string, maxStateBytes = MAX_STATE_BYTES): { state: Record<string, unknown>; stateJson: string } {
  const message = parseClientFrame(Buffer.from(`PING ${json}`), maxStateBytes);
  if (message.type !== 'ping' || message.state === null || message.stateJson === null) {
    throw new Error(`expected a ping with state, got ${JSON.stringify(message)}`);
  }
  return { state: message.state, stateJson: message.stateJson };
}

describe('decoder and parser together, on arbitrary bytes in arbitrary chunks', () => {
  it('never crash, only throw documented codes, and never buffer more than one partial frame', () => {
    fc.assert(
      fc.property(stream, cutSeeds, (input, seeds) => {
        const { outcomes, maxBuffered } = runConnection(split(input, seeds));
        expect(maxBuffered).toBeLessThanOrEqual(MAX_BUFFERED);
        // Only the last outcome may be an error: the connection ends there.
        outcomes.slice(0, -1).forEach((o) => expect(o.kind).toBe('message'));
        for (const o of outcomes) if (o.kind === 'error') expect(ERROR_CODES).toContain(o.code);
      }),
      { numRuns: 400 },
    );
  });

  it('see the same messages and the same first error however the stream is cut', () => {
    fc.assert(
      fc.property(stream, cutSeeds, (input, seeds) => {
        const chunked = comparable(runConnection(split(input, seeds)).outcomes);
        expect(chunked).toEqual(comparable(runConnection([input]).outcomes));
        expect(chunked).toEqual(comparable(modelConnection(input)));
      }),
      { numRuns: 400 },
    );
  });

  it('see the same outcome when the stream arrives one byte at a time', () => {
    fc.assert(
      fc.property(stream, (input) => {
        const bytewise = [...input].map((b) => raw(b));
        expect(comparable(runConnection(bytewise).outcomes)).toEqual(comparable(modelConnection(input)));
      }),
      { numRuns: 100 },
    );
  });

  it('always end a line longer than a frame with frame_too_large, after the frames before it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('', 'PING', 'PING {"a":1}', 'HELLO x'), { maxLength: 5 }),
        fc.integer({ min: MAX_FRAME_BYTES, max: 3 * MAX_FRAME_BYTES }),
        fc.boolean(),
        cutSeeds,
        (before, length, terminated, seeds) => {
          const input = bytes(`${before.map((f) => `${f}\n`).join('')}${'a'.repeat(length)}${terminated ? '\n' : ''}PING\n`);
          const { outcomes } = runConnection(split(input, seeds));
          // The frames before the long one: each HELLO after the first is still just parsed here
          // (a second HELLO is the edge's business), so all of them are messages.
          expect(outcomes.length).toBe(before.length + 1);
          expect(outcomes.at(-1)).toMatchObject({ kind: 'error', code: 'frame_too_large' });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('huge lines', () => {
  it('rejects 1 MiB without a newline in one chunk at once, keeping nothing', () => {
    const decoder = new FrameDecoder();
    let frames = 0;
    expect(() => decoder.push(Buffer.alloc(1 << 20, 0x61), () => ++frames > 0)).toThrow(ProtocolError);
    expect(frames).toBe(0);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('rejects a 1 MiB line whose newline is in the same chunk without handing out any of it', () => {
    const line = Buffer.concat([Buffer.from('PING {"a":"'), Buffer.alloc(1 << 20, 0x62), Buffer.from('"}\nPING\n')]);
    const { outcomes, maxBuffered } = runConnection([line]);
    expect(comparable(outcomes)).toEqual([{ kind: 'error', code: 'frame_too_large' }]);
    expect(maxBuffered).toBe(0);
  });

  it('gives up on a 1 MiB line trickled in 1000-byte chunks by the 5th chunk, never holding 4096 bytes', () => {
    const decoder = new FrameDecoder();
    let pushed = 0;
    let error: unknown = null;
    for (let i = 0; i < 1_048 && error === null; i += 1) {
      try {
        decoder.push(Buffer.alloc(1_000, 0x7b), () => true);
        pushed += 1;
      } catch (thrown) {
        error = thrown;
      }
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED);
    }
    expect(asProtocolError(error).code).toBe('frame_too_large');
    // 4 chunks are 4000 bytes (4001 with the newline still to come); the 5th passes 4096.
    expect(pushed).toBe(4);
  });

  it('accepts the longest HELLO a frame allows: a 128-character id and a 2048-character token', () => {
    const hello = `HELLO ${'i'.repeat(128)} ${'t'.repeat(MAX_TOKEN_LENGTH)}`;
    expect(Buffer.byteLength(hello) + 1).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(comparable(runConnection([bytes(`${hello}\r\n`)]).outcomes)).toEqual([
      { kind: 'message', message: { type: 'hello', clientId: 'i'.repeat(128), token: 't'.repeat(MAX_TOKEN_LENGTH) } },
    ]);
  });
});

describe('NUL bytes and invalid UTF-8 inside frames', () => {
  it.each([
    ['HELLO a\0b', 'bad_client_id', 'a NUL is not an id character'],
    ['HELLO \0', 'bad_client_id', 'an id of just NUL'],
    ['HELLO alice\0', 'bad_client_id', 'a NUL after the id is part of the id'],
    ['HELLO alice to\0ken', 'bad_frame', 'a NUL is not a printable token character'],
    ['HELLO alice\0 token', 'bad_client_id', 'the id is checked before the token'],
    ['HELLO\0alice', 'bad_frame', 'without the space the verb is HELLO\\0alice'],
    ['PING\0', 'bad_frame', 'the verb is PING\\0, not PING'],
    ['\0PING', 'bad_frame', 'the verb is \\0PING'],
    ['BYE\0', 'bad_frame', 'the verb is BYE\\0'],
    ['\0', 'bad_frame', 'a lone NUL is an unknown verb'],
    ['PING {"a":"\0"}', 'bad_state', 'JSON forbids a raw control character in a string'],
    ['PING {"a\0":1}', 'bad_state', 'nor in a key'],
    ['PING {}\0', 'bad_state', 'a NUL after the object is trailing garbage'],
    ['HELLO al\rice', 'bad_client_id', 'a CR inside the id'],
    ['\uFEFFPING', 'bad_frame', 'a BOM is kept, so the verb is unknown'],
    ['\uFEFFHELLO alice', 'bad_frame', 'a BOM before HELLO as well'],
  ])('%j is %s (%s)', (frame, code) => {
    expect(codeOf(frame)).toBe(code);
  });

  it('accepts an escaped NUL inside a state string and stores it escaped', () => {
    const { state, stateJson } = pingState('{"a":"x\\u0000y"}');
    expect(state).toEqual({ a: 'x\0y' });
    expect(stateJson).toBe('{"a":"x\\u0000y"}');
    expect(stateJson.includes('\0')).toBe(false);
  });

  it.each([
    ['HELLO ', [0xff], 'bad_frame'],
    ['HELLO alice ', [0xff], 'bad_frame'],
    ['PING {"a":"', [0xc3, 0x22, 0x7d], 'bad_frame'],
    ['PING', [0xff], 'bad_frame'],
    ['BYE', [0xc0, 0x80], 'bad_frame'],
    ['', [0xed, 0xa0, 0x80], 'bad_frame'],
    ['HELLO a', [0xf4, 0x90, 0x80, 0x80], 'bad_frame'],
  ])('%j followed by bytes %j is %s: the UTF-8 check comes before any other', (head, tail, code) => {
    expect(codeOf(Buffer.concat([Buffer.from(head), Buffer.from(tail)]))).toBe(code);
  });

  it('rejects any frame containing an invalid UTF-8 sequence with bad_frame, wherever it sits', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', 'HELLO ', 'HELLO alice ', 'PING ', 'PING {"k":"', 'BYE', 'BYE '),
        fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !s.includes('\n')),
        fc.constantFrom(...ALWAYS_INVALID_UTF8, ...TRUNCATED_UTF8),
        fc.string({ unit: 'binary-ascii', maxLength: 20 }).filter((s) => !s.includes('\n')),
        (head, middle, invalid, tail) => {
          const frame = Buffer.concat([Buffer.from(head + middle), invalid, Buffer.from(tail, 'latin1')]);
          expect(codeOf(frame)).toBe('bad_frame');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects a NUL anywhere in an otherwise valid id as bad_client_id, and in a token as bad_frame', () => {
    const idChar = fc.constantFrom(...'abcXYZ019._:@-');
    fc.assert(
      fc.property(
        fc.string({ unit: idChar, minLength: 1, maxLength: 60 }),
        fc.nat(),
        fc.string({ unit: fc.constantFrom(...'abc.-_~!'), minLength: 1, maxLength: 60 }),
        fc.nat(),
        (id, idCut, token, tokenCut) => {
          const i = idCut % (id.length + 1);
          const t = tokenCut % (token.length + 1);
          expect(codeOf(`HELLO ${id.slice(0, i)}\0${id.slice(i)}`)).toBe('bad_client_id');
          expect(codeOf(`HELLO ${id} ${token.slice(0, t)}\0${token.slice(t)}`)).toBe('bad_frame');
        },
      ),
    );
  });

  it('never echoes a HELLO token in an error message, and every message fits on one well-formed line', () => {
    const token = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'), minLength: 12, maxLength: 80 });
    const badId = fc.constantFrom('', 'a{b}', 'a|b', 'é', 'a'.repeat(129), 'a\0b');
    fc.assert(
      fc.property(badId, token, fc.constantFrom('', '\0', 'é', ' x'), (id, secret, spoil) => {
        const outcome = outcomeOf(`HELLO ${id} ${secret}${spoil}`);
        expect(outcome.kind).toBe('error');
        if (outcome.kind !== 'error') return;
        expect(outcome.message.includes(secret)).toBe(false);
        const line = errorFrame(outcome.code, outcome.message);
        expect(line.indexOf('\n')).toBe(line.length - 1);
      }),
    );
    // An unknown verb is quoted (at most 32 characters of it), escaped so the line stays one line
    // of well-formed UTF-8 even when the cut falls inside a surrogate pair.
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }).filter((s) => !s.includes(' ') && !s.includes('\n')),
        (verb) => {
          const outcome = outcomeOf(verb);
          if (outcome.kind !== 'error') return;
          expect(outcome.message.length).toBeLessThanOrEqual(256);
          expect(Buffer.from(outcome.message, 'utf8').toString('utf8')).toBe(outcome.message);
          const line = errorFrame(outcome.code, outcome.message);
          expect(line.indexOf('\n')).toBe(line.length - 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('JSON bombs in PING state', () => {
  const sizeMessage = (limit: number) => `state may be at most ${limit} bytes of JSON`;

  it('rejects 1000 levels of [ inside an object (and 1100 unclosed ones) by size, before parsing', () => {
    const closed = `{"a":${'['.repeat(1_000)}${']'.repeat(1_000)}}`;
    const open = `{"a":${'['.repeat(1_100)}`;
    // Were it parsed, the unclosed one would say "not valid JSON": the size message proves it wasn't.
    expect(outcomeOf(`PING ${closed}`)).toEqual({ kind: 'error', code: 'bad_state', message: sizeMessage(MAX_STATE_BYTES) });
    expect(outcomeOf(`PING ${open}`)).toEqual({ kind: 'error', code: 'bad_state', message: sizeMessage(MAX_STATE_BYTES) });
  });

  it('rejects a 4 MiB bomb (past the frame limit, so only reachable by calling the parser) in bounded time', () => {
    const bomb = `PING ${'['.repeat(4 << 20)}`;
    const started = performance.now();
    expect(outcomeOf(bomb)).toEqual({ kind: 'error', code: 'bad_state', message: sizeMessage(MAX_STATE_BYTES) });
    // Bound: one UTF-8 decode and one byte count of 4 MiB; 250 ms is generous on a loaded machine.
    expect(performance.now() - started).toBeLessThan(250);
  });

  it('parses the deepest nesting that fits any configured limit, or rejects it as bad_state, never throwing RangeError', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: CONFIG_STATE_MIN, max: CONFIG_STATE_MAX }),
        fc.constantFrom('arrays', 'objects', 'mixed'),
        (limit, kind) => {
          // The deepest nesting of this kind whose text fits the limit exactly or nearly.
          const open = kind === 'arrays' ? '[' : kind === 'objects' ? '{"a":' : '{"a":[';
          const close = kind === 'arrays' ? ']' : kind === 'objects' ? '}' : ']}';
          const inner = kind === 'objects' ? '1' : '';
          const depth = Math.max(0, Math.floor((limit - 7 - inner.length) / (open.length + close.length)));
          const json = `{"a":${open.repeat(depth)}${inner}${close.repeat(depth)}}`;
          const outcome = outcomeOf(`PING ${json}`, limit);
          if (Buffer.byteLength(json) > limit) {
            expect(outcome).toEqual({ kind: 'error', code: 'bad_state', message: sizeMessage(limit) });
            return;
          }
          if (outcome.kind === 'error') {
            expect(outcome.code).toBe('bad_state');
            return;
          }
          expect(outcome.message).toMatchObject({ type: 'ping', stateJson: json });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('parses ~2000 levels of arrays at the largest configurable limit (4000 bytes)', () => {
    const depth = Math.floor((CONFIG_STATE_MAX - 7) / 2);
    const json = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(CONFIG_STATE_MAX);
    expect(pingState(json, CONFIG_STATE_MAX).stateJson).toBe(json);
  });

  it('keeps every one of the ~120 keys that fit in 1 KiB', () => {
    const keys: string[] = [];
    let json = '{}';
    for (let i = 0; ; i += 1) {
      const next = `{${[...keys, `"k${i}":0`].join(',')}}`;
      if (Buffer.byteLength(next) > MAX_STATE_BYTES) break;
      keys.push(`"k${i}":0`);
      json = next;
    }
    expect(keys.length).toBeGreaterThan(100);
    const { state, stateJson } = pingState(json);
    expect(Object.keys(state)).toHaveLength(keys.length);
    expect(stateJson).toBe(json);
  });

  it('keeps the last of duplicate keys, so 150 duplicates in 1 KiB store one key', () => {
    const json = `{${Array.from({ length: 150 }, (_, i) => `"a":${i % 10}`).join(',')}}`;
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    expect(pingState(json).stateJson).toBe('{"a":9}');
  });

  it('moves integer-like keys first in the stored form (JavaScript object key order)', () => {
    expect(pingState('{"b":1,"a":2,"10":3,"2":4}').stateJson).toBe('{"2":4,"10":3,"b":1,"a":2}');
  });

  it('stores a "__proto__" key as data without touching any prototype', () => {
    const { state, stateJson } = pingState('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
    expect(Object.getPrototypeOf(state)).toBe(Object.prototype);
    expect(Object.keys(state)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(stateJson).toBe('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
  });

  it.each([
    ['{"n":1e999999}', '{"n":null}', 'overflows to Infinity, which JSON writes as null'],
    ['{"n":-1e999999}', '{"n":null}', 'and -Infinity'],
    ['{"n":1e-999999}', '{"n":0}', 'underflows to 0'],
    ['{"n":-0}', '{"n":0}', 'loses the sign of zero'],
    ['{"n":123456789012345678901234567890}', '{"n":1.2345678901234568e+29}', "keeps only a double's precision"],
    ['{"n":9007199254740993}', '{"n":9007199254740992}', 'rounds integers past 2^53'],
    [`{"n":1${'0'.repeat(300)}}`, '{"n":1e+300}', 'shortens a 301-digit integer'],
  ])('accepts huge numbers: %s is stored as %s (%s)', (json, stored) => {
    expect(pingState(json).stateJson).toBe(stored);
  });

  it('bounds the stored (canonical) form by the limit too: a state that grows when normalised is bad_state', () => {
    // 1e20 is 4 bytes on the wire and 21 digits once re-printed: what is stored must fit the limit.
    const items = Math.floor((MAX_STATE_BYTES - 8) / 5);
    const json = `{"a":[${Array.from({ length: items }, () => '1e20').join(',')}]}`;
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    expect(codeOf(`PING ${json}`)).toBe('bad_state');
    // A few such numbers still fit, and are stored written out.
    expect(pingState('{"a":[1e20,1e20]}').stateJson).toBe('{"a":[100000000000000000000,100000000000000000000]}');
  });

  it('accepts long strings up to the limit in bytes, escapes included', () => {
    const ascii = `{"s":"${'x'.repeat(MAX_STATE_BYTES - 8)}"}`;
    expect(pingState(ascii).stateJson).toBe(ascii);
    expect(codeOf(`PING {"s":"${'x'.repeat(MAX_STATE_BYTES - 7)}"}`)).toBe('bad_state');
    // 169 escaped NULs (6 bytes each) and the 8 bytes around them: 1022 bytes. They stay escaped.
    const escapes = `{"s":"${'\\u0000'.repeat(169)}"}`;
    expect(Buffer.byteLength(escapes)).toBe(1_022);
    expect(pingState(escapes).stateJson).toBe(escapes);
    // Escaped emoji (12 bytes each) are stored as raw UTF-8 (4 bytes each): smaller.
    const emoji = `{"s":"${'\\ud83d\\ude00'.repeat(84)}"}`;
    expect(Buffer.byteLength(emoji)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    expect(pingState(emoji).stateJson).toBe(`{"s":"${'\u{1F600}'.repeat(84)}"}`);
    // A lone surrogate escape stays an escape: the stored form is still well-formed UTF-8.
    expect(pingState('{"s":"\\ud800"}').stateJson).toBe('{"s":"\\ud800"}');
  });
});

describe('a configured MAX_STATE_BYTES', () => {
  const stateObject = fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 12 });

  it('accepts state exactly when its bytes are within the configured limit', () => {
    fc.assert(
      fc.property(stateObject, fc.integer({ min: CONFIG_STATE_MIN, max: CONFIG_STATE_MAX }), (state, limit) => {
        const json = JSON.stringify(state);
        const outcome = outcomeOf(`PING ${json}`, limit);
        if (Buffer.byteLength(json) <= limit)
          expect(outcome).toEqual({ kind: 'message', message: { type: 'ping', state: JSON.parse(json), stateJson: json } });
        else expect(outcome).toEqual({ kind: 'error', code: 'bad_state', message: sizeMessage(limit) });
      }),
      { numRuns: 300 },
    );
  });

  it('applies a lower limit than the default at its exact byte boundary, counting bytes, not characters', () => {
    const limit = 64;
    const fits = `{"k":"${'v'.repeat(limit - 8)}"}`;
    expect(Buffer.byteLength(fits)).toBe(limit);
    expect(pingState(fits, limit).stateJson).toBe(fits);
    expect(codeOf(`PING {"k":"${'v'.repeat(limit - 7)}"}`, limit)).toBe('bad_state');
    // 19 characters, 57 bytes of ☕ plus 8: 65 bytes.
    expect(codeOf(`PING {"k":"${'☕'.repeat(19)}"}`, limit)).toBe('bad_state');
    expect(codeOf(`PING {"k":"${'☕'.repeat(18)}"}`, limit)).toBe('accepted');
    // The smallest configurable limit still takes {} and nothing bigger.
    expect(codeOf('PING {}', 2)).toBe('accepted');
    expect(codeOf('PING { }', 2)).toBe('bad_state');
  });

  it('does not apply to HELLO, BYE or a PING without state', () => {
    for (const frame of ['PING', 'BYE', `HELLO ${'a'.repeat(128)} ${'t'.repeat(200)}`, '']) expect(codeOf(frame, 2)).toBe('accepted');
  });

  function sizeMessage(limit: number): string {
    return `state may be at most ${limit} bytes of JSON`;
  }
});
