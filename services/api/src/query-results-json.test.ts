import type { QueryResult } from '@presence/presence-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { numberJson, queryResultsJson } from './query-results-json.js';

const ID_CHARS = 'ABCXYZabcxyz0189._:@-';
const lastSeenAt = fc.oneof(
  fc.constant(null),
  // Milliseconds since 1970, the values the store returns.
  fc.integer({ min: 1_000_000_000_000, max: 4_102_444_800_000 }),
  fc.maxSafeInteger(),
  fc.double(),
);
const result: fc.Arbitrary<QueryResult> = fc.record({
  clientId: fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 }),
  online: fc.boolean(),
  lastSeenAt,
});

describe('queryResultsJson', () => {
  it('is JSON.stringify({ results }), byte for byte', () => {
    fc.assert(
      fc.property(fc.array(result, { maxLength: 20 }), (results) => {
        expect(queryResultsJson(results)).toBe(JSON.stringify({ results }));
      }),
      { numRuns: 2_000 },
    );
  });

  it('prints numbers as JSON does, at the edges of the fast path', () => {
    for (const n of [
      0,
      -0,
      1,
      -1,
      999_999_999,
      1e9,
      1e9 + 1,
      1_795_325_498_474,
      1_000_000_000_000_000,
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER + 1,
      -1_795_325_498_474,
      1.5,
      1e21,
      NaN,
      Infinity,
      -Infinity,
    ]) {
      expect(numberJson(n)).toBe(JSON.stringify(n));
    }
  });
});
