import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { querySchema, validQueryIds } from './client-ids.js';

const ID_CHARS = 'ABCXYZabcxyz0189._:@-';
const goodId = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 });
/** Ids that just miss: empty, too long, or with one character outside the pattern. */
const badId = fc.oneof(
  fc.constant(''),
  fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 129, maxLength: 140 }),
  fc.tuple(goodId, fc.constantFrom(' ', '{', '}', '|', 'é', '\n', '/', '%'), goodId).map(([a, c, b]) => `${a}${c}${b}`),
);
const element = fc.oneof({ weight: 8, arbitrary: goodId }, badId, fc.integer(), fc.constant(null), fc.array(goodId, { maxLength: 2 }));
const idList = fc.oneof(
  fc.array(goodId, { maxLength: 5 }),
  fc.array(element, { maxLength: 5 }),
  // Around the 1000 limit.
  fc.tuple(fc.integer({ min: 998, max: 1_002 }), goodId).map(([n, id]) => Array.from({ length: n }, (_, i) => `${id.slice(0, 100)}${i}`)),
);
const body = fc.oneof(
  fc.record({ clientIds: idList }),
  fc.record({ clientIds: idList, other: fc.jsonValue() }),
  fc.record({ clientIds: fc.jsonValue() }),
  fc.jsonValue(),
  fc.constant(undefined),
);

describe('validQueryIds', () => {
  it('accepts exactly the bodies querySchema accepts, with the same ids', () => {
    fc.assert(
      fc.property(body, (value) => {
        const parsed = querySchema.safeParse(value);
        const ids = validQueryIds(value);
        expect(ids !== null).toBe(parsed.success);
        if (parsed.success) expect(ids).toEqual(parsed.data.clientIds);
      }),
      { numRuns: 2_000 },
    );
  });

  it('takes 1 to 1000 ids', () => {
    expect(validQueryIds({ clientIds: [] })).toBeNull();
    expect(validQueryIds({ clientIds: Array.from({ length: 1_000 }, (_, i) => `c${i}`) })).toHaveLength(1_000);
    expect(validQueryIds({ clientIds: Array.from({ length: 1_001 }, (_, i) => `c${i}`) })).toBeNull();
  });
});
