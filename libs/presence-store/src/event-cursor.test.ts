import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventCursor, STREAM_START, compareStreamIds, type StreamId } from './event-cursor.js';

/** A Redis stream id as Redis writes it: `<ms>-<seq>`, both safe integers. */
const streamId = fc
  .tuple(
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 45 }), fc.maxSafeNat()),
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000 }), fc.maxSafeNat()),
  )
  .map(([ms, seq]): StreamId => `${ms}-${seq}`);

describe('EventCursor', () => {
  it('starts every shard before the first event', () => {
    const cursor = EventCursor.start(4);
    expect(cursor.positions).toEqual(['0-0', '0-0', '0-0', '0-0']);
    expect(STREAM_START).toBe('0-0');
    expect(cursor.toString()).toBe('v1.4....');
  });

  it('round-trips a start cursor through its text form', () => {
    for (const shards of [1, 2, 16, 1024]) {
      const text = EventCursor.start(shards).toString();
      const parsed = EventCursor.parse(text, shards);
      expect(parsed).not.toBeNull();
      expect(parsed?.positions).toEqual(EventCursor.start(shards).positions);
      expect(parsed?.toString()).toBe(text);
    }
  });

  it('writes positions in base 36, leaving out a zero sequence', () => {
    const cursor = new EventCursor(['0-0', '1700000000000-0', '1700000000000-5', '36-36']);
    expect(cursor.toString()).toBe(`v1.4..${(1700000000000).toString(36)}.${(1700000000000).toString(36)}-5.10-10`);
  });

  it('round-trips positions with a non-zero sequence', () => {
    const positions = ['1700000000123-0', '0-0', '1700000000123-7', '1-1', '0-3'];
    const parsed = EventCursor.parse(new EventCursor(positions).toString(), positions.length);
    expect(parsed?.positions).toEqual(positions);
  });

  it('round-trips any positions through toString and parse', () => {
    fc.assert(
      fc.property(fc.array(streamId, { minLength: 1, maxLength: 40 }), (positions) => {
        const cursor = new EventCursor(positions);
        const text = cursor.toString();
        const parsed = EventCursor.parse(text, positions.length);
        expect(parsed).not.toBeNull();
        expect(parsed?.positions).toEqual(positions);
        expect(parsed?.toString()).toBe(text);
      }),
    );
  });

  it('keeps the text form safe to use as an SSE id', () => {
    fc.assert(
      fc.property(fc.array(streamId, { minLength: 1, maxLength: 40 }), (positions) => {
        expect(new EventCursor(positions).toString()).toMatch(/^v1\.[0-9]+(\.[0-9a-z-]*)+$/);
      }),
    );
  });

  it('reads an empty position as the start, and a bare ms as sequence 0', () => {
    expect(EventCursor.parse('v1.3..a.a-1', 3)?.positions).toEqual(['0-0', '10-0', '10-1']);
  });

  it('rejects a cursor written for another shard count', () => {
    const text = EventCursor.start(4).toString();
    expect(EventCursor.parse(text, 3)).toBeNull();
    expect(EventCursor.parse(text, 5)).toBeNull();
    // A header that disagrees with the number of positions.
    expect(EventCursor.parse('v1.3....', 4)).toBeNull();
    expect(EventCursor.parse('v1.4...', 4)).toBeNull();
    expect(EventCursor.parse('v1.04....', 4)).toBeNull();
  });

  it('rejects other versions', () => {
    expect(EventCursor.parse('v2.2..', 2)).toBeNull();
    expect(EventCursor.parse('V1.2..', 2)).toBeNull();
    expect(EventCursor.parse('1.2..', 2)).toBeNull();
    expect(EventCursor.parse('.2..', 2)).toBeNull();
  });

  it('rejects garbage', () => {
    for (const text of ['', '0', 'garbage', 'v1', 'v1.2', 'v1.2.a.b.c', 'v1.2.a.!', 'v1.2.A.b', 'v1.2.a-.b', 'v1.2.-1.b']) {
      expect(EventCursor.parse(text, 2)).toBeNull();
    }
    for (const text of ['v1.2.a b.c', 'v1.2.a-b-c.d', 'v1.2. a.b', 'v1.2.a.b\n', 'v1.2.1_0.a', 'v1.2.+1.a']) {
      expect(EventCursor.parse(text, 2)).toBeNull();
    }
  });

  it('rejects overlong parts', () => {
    // 11 base-36 digits of ms and 13 of sequence are the most the format allows.
    expect(EventCursor.parse(`v1.1.${'1'.repeat(12)}`, 1)).toBeNull();
    expect(EventCursor.parse(`v1.1.1-${'1'.repeat(14)}`, 1)).toBeNull();
    expect(EventCursor.parse('v1.1.1'.padEnd(10_000, '0'), 1)).toBeNull();
  });

  it('rejects numbers beyond the safe integer range', () => {
    const maxSafe = Number.MAX_SAFE_INTEGER.toString(36);
    expect(EventCursor.parse(`v1.1.${maxSafe}`, 1)?.positions).toEqual([`${Number.MAX_SAFE_INTEGER}-0`]);
    expect(EventCursor.parse(`v1.1.zzzzzzzzzzz`, 1)).toBeNull();
    expect(EventCursor.parse(`v1.1.1-zzzzzzzzzzzzz`, 1)).toBeNull();
  });

  it('returns null rather than throwing for any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('v', '1', '2', '.', '-', 'a', 'z', '0') })),
        fc.integer({ min: 1, max: 8 }),
        (text, shards) => {
          const parsed = EventCursor.parse(text, shards);
          if (parsed !== null) {
            expect(parsed.positions).toHaveLength(shards);
            for (const position of parsed.positions) expect(position).toMatch(/^[0-9]+-[0-9]+$/);
          }
        },
      ),
    );
  });

  it('returns each shard position, and the start for shards it does not have', () => {
    const cursor = new EventCursor(['5-1', '7-0']);
    expect(cursor.position(0)).toBe('5-1');
    expect(cursor.position(1)).toBe('7-0');
    expect(cursor.position(2)).toBe(STREAM_START);
  });

  it('`with` returns a moved copy and leaves the original alone', () => {
    const original = EventCursor.start(3);
    const moved = original.with(1, '1700000000000-2');
    expect(moved).not.toBe(original);
    expect(moved.positions).toEqual(['0-0', '1700000000000-2', '0-0']);
    expect(original.positions).toEqual(['0-0', '0-0', '0-0']);
    expect(moved.position(1)).toBe('1700000000000-2');
    expect(original.position(1)).toBe('0-0');
    const again = moved.with(1, '1700000000001-0').with(2, '3-4');
    expect(again.positions).toEqual(['0-0', '1700000000001-0', '3-4']);
    expect(moved.positions).toEqual(['0-0', '1700000000000-2', '0-0']);
  });
});

describe('compareStreamIds', () => {
  it('orders by milliseconds first', () => {
    expect(compareStreamIds('1-0', '2-0')).toBeLessThan(0);
    expect(compareStreamIds('2-0', '1-0')).toBeGreaterThan(0);
    expect(compareStreamIds('1-999', '2-0')).toBeLessThan(0);
    expect(compareStreamIds('1700000000001-0', '1700000000000-99')).toBeGreaterThan(0);
  });

  it('orders by sequence within the same millisecond', () => {
    expect(compareStreamIds('5-1', '5-2')).toBeLessThan(0);
    expect(compareStreamIds('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareStreamIds('5-3', '5-3')).toBe(0);
  });

  it('compares numerically, not as text', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('1-9', '1-10')).toBeLessThan(0);
  });

  it('reads an id without a sequence as sequence 0', () => {
    expect(compareStreamIds('5', '5-0')).toBe(0);
    expect(compareStreamIds('5', '5-1')).toBeLessThan(0);
    expect(compareStreamIds(STREAM_START, '0-1')).toBeLessThan(0);
  });

  it('agrees with ordering by (ms, seq) for any ids', () => {
    const part = fc.integer({ min: 0, max: 2 ** 50 });
    fc.assert(
      fc.property(part, part, part, part, (aMs, aSeq, bMs, bSeq) => {
        const expected = aMs !== bMs ? Math.sign(aMs - bMs) : Math.sign(aSeq - bSeq);
        expect(Math.sign(compareStreamIds(`${aMs}-${aSeq}`, `${bMs}-${bSeq}`))).toBe(expected);
        expect(Math.sign(compareStreamIds(`${bMs}-${bSeq}`, `${aMs}-${aSeq}`))).toBe(-expected || 0);
      }),
    );
  });

  it('sorts ids the same way before and after a cursor round trip', () => {
    fc.assert(
      fc.property(streamId, streamId, (a, b) => {
        const parsed = EventCursor.parse(new EventCursor([a, b]).toString(), 2);
        expect(parsed).not.toBeNull();
        expect(Math.sign(compareStreamIds(parsed?.position(0) ?? '', parsed?.position(1) ?? ''))).toBe(Math.sign(compareStreamIds(a, b)));
      }),
    );
  });
});
