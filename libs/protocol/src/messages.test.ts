import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLIENT_ID_PATTERN, MAX_CLIENT_ID_LENGTH, isValidClientId } from './client-id.js';
import { ERROR_CODES, ProtocolError, type ErrorCode } from './errors.js';
import { MAX_STATE_BYTES, MAX_TOKEN_LENGTH, parseClientFrame, type ClientMessage } from './messages.js';
import { PONG_FRAME, byeFrame, errorFrame, welcomeFrame } from './server-frames.js';

const parse = (text: string): ClientMessage => parseClientFrame(Buffer.from(text));

/** The code of the ProtocolError that parsing `frame` throws; fails if it throws anything else or nothing. */
function codeOf(frame: string | Buffer): ErrorCode {
  try {
    parseClientFrame(typeof frame === 'string' ? Buffer.from(frame) : frame);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  throw new Error(`expected ${JSON.stringify(frame.toString())} to be rejected`);
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-';

describe('parseClientFrame', () => {
  describe('well-formed frames', () => {
    it('reads an empty frame as empty', () => {
      expect(parseClientFrame(Buffer.alloc(0))).toEqual({ type: 'empty' });
    });

    it('reads a bare PING as a ping without state', () => {
      expect(parse('PING')).toEqual({ type: 'ping', state: null, stateJson: null });
    });

    it('reads PING with a JSON object as state, kept in canonical form', () => {
      expect(parse('PING {"a":1}')).toEqual({ type: 'ping', state: { a: 1 }, stateJson: '{"a":1}' });
      expect(parse('PING  { "a" : [1, 2] ,"b": {"c": null} } ')).toEqual({
        type: 'ping',
        state: { a: [1, 2], b: { c: null } },
        stateJson: '{"a":[1,2],"b":{"c":null}}',
      });
      expect(parse('PING {}')).toEqual({ type: 'ping', state: {}, stateJson: '{}' });
    });

    it('keeps non-ASCII state intact', () => {
      const message = parse('PING {"mood":"☕ é 日本"}');
      expect(message).toEqual({ type: 'ping', state: { mood: '☕ é 日本' }, stateJson: '{"mood":"☕ é 日本"}' });
    });

    it('reads BYE', () => {
      expect(parse('BYE')).toEqual({ type: 'bye' });
    });

    it('reads HELLO with a client id and no token', () => {
      expect(parse('HELLO alice')).toEqual({ type: 'hello', clientId: 'alice', token: null });
    });

    it('reads HELLO with a client id and a token', () => {
      expect(parse('HELLO alice tok')).toEqual({ type: 'hello', clientId: 'alice', token: 'tok' });
      expect(parse('HELLO user@example.com:42 s3cr3t!{}"~')).toEqual({
        type: 'hello',
        clientId: 'user@example.com:42',
        token: 's3cr3t!{}"~',
      });
    });

    it('accepts a client id of 128 characters and a token of 2048', () => {
      const id = 'a'.repeat(MAX_CLIENT_ID_LENGTH);
      const token = 't'.repeat(MAX_TOKEN_LENGTH);
      expect(parse(`HELLO ${id} ${token}`)).toEqual({ type: 'hello', clientId: id, token });
    });

    it('accepts state of exactly 1024 bytes', () => {
      const json = `{"k":"${'v'.repeat(MAX_STATE_BYTES - 8)}"}`;
      expect(Buffer.byteLength(json)).toBe(MAX_STATE_BYTES);
      const message = parse(`PING ${json}`);
      expect(message.type).toBe('ping');
      expect(message).toMatchObject({ stateJson: json });
    });

    it('returns a fresh state object for each PING', () => {
      const a = parse('PING {"a":1}');
      const b = parse('PING {"a":1}');
      expect(a).toEqual(b);
      expect(a).not.toBe(b);
    });
  });

  describe('bad_frame', () => {
    it('rejects unknown verbs', () => {
      expect(codeOf('PONG')).toBe('bad_frame');
      expect(codeOf('ping')).toBe('bad_frame');
      expect(codeOf('hello alice')).toBe('bad_frame');
      expect(codeOf(' PING')).toBe('bad_frame');
      expect(codeOf('PING\t{}')).toBe('bad_frame');
      expect(codeOf('X'.repeat(500))).toBe('bad_frame');
    });

    it('truncates a long unknown verb in the message', () => {
      try {
        parse('Q'.repeat(500));
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).message.length).toBeLessThan(100);
      }
    });

    it('rejects BYE with arguments', () => {
      expect(codeOf('BYE x')).toBe('bad_frame');
      expect(codeOf('BYE ')).toBe('bad_frame');
    });

    it('rejects HELLO without a client id', () => {
      expect(codeOf('HELLO')).toBe('bad_frame');
      expect(codeOf('HELLO ')).toBe('bad_frame');
    });

    it('rejects HELLO with three arguments', () => {
      expect(codeOf('HELLO alice tok extra')).toBe('bad_frame');
      expect(codeOf('HELLO a b ')).toBe('bad_frame');
    });

    it('rejects a HELLO token that is empty, too long or not printable ASCII', () => {
      expect(codeOf('HELLO alice ')).toBe('bad_frame');
      expect(codeOf(`HELLO alice ${'t'.repeat(MAX_TOKEN_LENGTH + 1)}`)).toBe('bad_frame');
      expect(codeOf('HELLO alice tök')).toBe('bad_frame');
      expect(codeOf('HELLO alice a\tb')).toBe('bad_frame');
      expect(codeOf('HELLO alice a\x7fb')).toBe('bad_frame');
    });

    it('rejects bytes that are not UTF-8', () => {
      expect(codeOf(Buffer.from([0xff, 0xfe]))).toBe('bad_frame');
      expect(codeOf(Buffer.concat([Buffer.from('PING {"a":"'), Buffer.from([0xc3]), Buffer.from('"}')]))).toBe('bad_frame');
      expect(codeOf(Buffer.concat([Buffer.from('HELLO '), Buffer.from([0x80])]))).toBe('bad_frame');
      // An encoded surrogate half is not UTF-8 either.
      expect(codeOf(Buffer.from([0xed, 0xa0, 0x80]))).toBe('bad_frame');
    });
  });

  describe('bad_client_id', () => {
    it('rejects ids with characters outside the allowed set', () => {
      expect(codeOf('HELLO a{b}')).toBe('bad_client_id');
      expect(codeOf('HELLO a|b')).toBe('bad_client_id');
      expect(codeOf('HELLO ålice')).toBe('bad_client_id');
      expect(codeOf('HELLO a\tb')).toBe('bad_client_id');
    });

    it('reads `HELLO a b` as id `a` with token `b`, not as an id with a space', () => {
      expect(parse('HELLO a b')).toEqual({ type: 'hello', clientId: 'a', token: 'b' });
    });

    it('rejects an empty id between two spaces', () => {
      expect(codeOf('HELLO  alice')).toBe('bad_client_id');
    });

    it('rejects an id of 129 characters', () => {
      expect(codeOf(`HELLO ${'a'.repeat(MAX_CLIENT_ID_LENGTH + 1)}`)).toBe('bad_client_id');
      expect(codeOf(`HELLO ${'a'.repeat(MAX_CLIENT_ID_LENGTH + 1)} tok`)).toBe('bad_client_id');
    });
  });

  describe('bad_state', () => {
    it('rejects state that is JSON but not an object', () => {
      expect(codeOf('PING [1]')).toBe('bad_state');
      expect(codeOf('PING []')).toBe('bad_state');
      expect(codeOf('PING null')).toBe('bad_state');
      expect(codeOf('PING "x"')).toBe('bad_state');
      expect(codeOf('PING 1')).toBe('bad_state');
      expect(codeOf('PING true')).toBe('bad_state');
    });

    it('rejects state that is not JSON', () => {
      expect(codeOf('PING {bad')).toBe('bad_state');
      expect(codeOf('PING {"a":1}x')).toBe('bad_state');
      expect(codeOf("PING {'a':1}")).toBe('bad_state');
      expect(codeOf('PING ')).toBe('bad_state');
    });

    it('rejects state over 1024 bytes, counting bytes rather than characters', () => {
      expect(codeOf(`PING {"k":"${'v'.repeat(MAX_STATE_BYTES - 7)}"}`)).toBe('bad_state');
      // 400 three-byte characters: 1208 bytes, though only 408 characters.
      const wide = `{"k":"${'☕'.repeat(400)}"}`;
      expect(wide.length).toBeLessThan(MAX_STATE_BYTES);
      expect(codeOf(`PING ${wide}`)).toBe('bad_state');
    });

    it('parses deeply nested state within 1 KiB, or rejects it as bad_state', () => {
      const objects = `${'{"a":'.repeat(170)}1${'}'.repeat(170)}`;
      // 509 levels of arrays: exactly 1024 bytes.
      const arrays = `{"a":${'['.repeat(509)}${']'.repeat(509)}}`;
      for (const json of [objects, arrays]) {
        expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_STATE_BYTES);
        let message: ClientMessage | null = null;
        try {
          message = parse(`PING ${json}`);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          expect((error as ProtocolError).code).toBe('bad_state');
        }
        if (message !== null) {
          expect(message.type).toBe('ping');
          expect(message).toMatchObject({ stateJson: json });
        }
      }
    });
  });

  it('throws nothing but a ProtocolError with a known code, whatever the bytes', () => {
    const prefix = fc.constantFrom('', 'PING ', 'HELLO ', 'BYE', 'PING {', 'HELLO a ');
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 1200 }), (head, body) => {
        const frame = Buffer.concat([Buffer.from(head), body]);
        try {
          const message = parseClientFrame(frame);
          expect(['hello', 'ping', 'bye', 'empty']).toContain(message.type);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          expect(ERROR_CODES).toContain((error as ProtocolError).code);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any JSON object state of at most 1024 bytes', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), (state) => {
        const json = JSON.stringify(state);
        fc.pre(Buffer.byteLength(json) <= MAX_STATE_BYTES);
        const message = parse(`PING ${json}`);
        expect(message).toEqual({ type: 'ping', state: JSON.parse(json), stateJson: json });
      }),
    );
  });

  it('accepts HELLO for every valid id', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 }), (id) => {
        expect(parse(`HELLO ${id}`)).toEqual({ type: 'hello', clientId: id, token: null });
      }),
    );
  });
});

describe('isValidClientId', () => {
  it('accepts every allowed character on its own', () => {
    for (const char of ID_CHARS) expect(isValidClientId(char)).toBe(true);
  });

  it('accepts typical ids', () => {
    for (const id of ['alice', 'user-42', 'device_7.tablet', 'tenant:user', 'bob@example.com', 'A.B_C:D@E-F']) {
      expect(isValidClientId(id)).toBe(true);
    }
  });

  it('accepts lengths 1 to 128 and nothing outside', () => {
    expect(isValidClientId('')).toBe(false);
    expect(isValidClientId('a')).toBe(true);
    expect(isValidClientId('a'.repeat(128))).toBe(true);
    expect(isValidClientId('a'.repeat(129))).toBe(false);
    expect(MAX_CLIENT_ID_LENGTH).toBe(128);
  });

  it('rejects hash tags, separators, whitespace and non-ASCII', () => {
    for (const id of ['a{b', 'a}b', '{a}', 'a|b', 'a b', 'a\tb', 'a\nb', 'alice\n', '\nalice', 'a/b', 'a+b', 'é', 'a,b', 'a#b']) {
      expect(isValidClientId(id)).toBe(false);
    }
  });

  it('agrees with the documented character set for any printable ASCII string', () => {
    const allowed = new Set(ID_CHARS);
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 140 }), (id) => {
        const expected = id.length >= 1 && id.length <= 128 && [...id].every((c) => allowed.has(c));
        expect(isValidClientId(id)).toBe(expected);
        expect(CLIENT_ID_PATTERN.test(id)).toBe(expected);
      }),
    );
  });
});

describe('server frames', () => {
  it('errorFrame writes ERR <code> <message> as one frame', () => {
    expect(errorFrame('bad_frame', 'unknown command')).toBe('ERR bad_frame unknown command\n');
  });

  it('errorFrame replaces newlines in the message so it stays one frame', () => {
    const frame = errorFrame('bad_state', 'line one\nline two\r\nline three\r\rend\n');
    expect(frame).toBe('ERR bad_state line one line two line three end \n');
    expect(frame.indexOf('\n')).toBe(frame.length - 1);
    expect(frame.includes('\r')).toBe(false);
  });

  it('errorFrame is always exactly one line', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ERROR_CODES),
        fc.string({ unit: fc.constantFrom('a', ' ', '\r', '\n', 'é', '☕', '\t'), maxLength: 60 }),
        (code, message) => {
          const frame = errorFrame(code, message);
          expect(frame.startsWith(`ERR ${code} `)).toBe(true);
          expect(frame.endsWith('\n')).toBe(true);
          expect(frame.slice(0, -1)).not.toMatch(/[\r\n]/);
        },
      ),
    );
  });

  it('welcomeFrame carries the session id and timings', () => {
    expect(welcomeFrame('s-123', 10_000, 30_000)).toBe('WELCOME s-123 10000 30000\n');
  });

  it('byeFrame carries the reason', () => {
    expect(byeFrame('timeout')).toBe('BYE timeout\n');
    expect(byeFrame('shutdown')).toBe('BYE shutdown\n');
  });

  it('PONG_FRAME is PONG and a newline', () => {
    expect(PONG_FRAME.toString()).toBe('PONG\n');
  });
});
