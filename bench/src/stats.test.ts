import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distribution, LatencyHistogram, median, percentile } from './stats.js';

describe('percentile and distribution', () => {
  it('uses the nearest rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarises unsorted samples', () => {
    expect(distribution([5, 1, 3, 2, 4])).toEqual({ count: 5, min: 1, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
    expect(distribution([]).p99).toBeNaN();
  });

  it('takes the median of the finite values only', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 7, Number.NaN])).toBe(7);
    expect(median([Number.NaN])).toBeNaN();
  });
});

describe('LatencyHistogram', () => {
  const latencies = fc.array(fc.double({ min: 0.001, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 500 });

  it('reports each percentile at most 1% above the exact one, never below', () => {
    fc.assert(
      fc.property(latencies, fc.integer({ min: 1, max: 100 }), (values, p) => {
        const histogram = new LatencyHistogram();
        for (const v of values) histogram.record(v);
        const exact = percentile(Float64Array.from(values).sort(), p);
        const reported = histogram.percentile(p);
        expect(reported).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
        expect(reported).toBeLessThanOrEqual(exact * LatencyHistogram.GROWTH * (1 + 1e-9));
        expect(histogram.total).toBe(values.length);
      }),
    );
  });

  it('adds histograms from other processes as if one had recorded everything', () => {
    fc.assert(
      fc.property(latencies, latencies, (a, b) => {
        const left = new LatencyHistogram();
        for (const v of a) left.record(v);
        const right = new LatencyHistogram();
        for (const v of b) right.record(v);
        const both = new LatencyHistogram();
        for (const v of [...a, ...b]) both.record(v);
        // As it crosses a process boundary: JSON, where holes in the counts array become null.
        left.add(JSON.parse(JSON.stringify(right)) as { counts: (number | null)[]; total: number; maxMs: number });
        expect(left.toJSON()).toEqual(both.toJSON());
      }),
    );
  });

  it('reports NaN before any sample', () => {
    expect(new LatencyHistogram().percentile(99)).toBeNaN();
  });
});
