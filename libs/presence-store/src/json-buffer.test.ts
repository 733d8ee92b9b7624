import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonArrayBuffer } from './json-buffer.js';

describe('jsonArrayBuffer', () => {
  it('writes the bytes of JSON.stringify for session members', () => {
    const members = ['0123456789abcdef0123|alice', 'ffffffffffffffffffff|bob.smith@example.com:phone-1'];
    expect(jsonArrayBuffer(members).toString('utf8')).toBe(JSON.stringify(members));
    expect(jsonArrayBuffer([]).toString('utf8')).toBe('[]');
  });

  it('matches JSON.stringify for any strings, escapes and non-ASCII included', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 20 }), (strings) => {
        expect(jsonArrayBuffer(strings).equals(Buffer.from(JSON.stringify(strings), 'utf8'))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
