/** Summary of a set of samples (ms unless said otherwise). */
export interface Distribution {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values; NaN for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    min: sorted.length === 0 ? Number.NaN : (sorted[0] as number),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] as number),
    mean: sorted.length === 0 ? Number.NaN : sum / sorted.length,
  };
}

/** Median of the finite values; NaN for none. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? (finite[mid] as number) : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/**
 * Log-bucketed latency histogram (1% relative precision from 1 µs to ~30 min) so that millions of
 * samples cost a few KiB and histograms from several processes can be added.
 */
export class LatencyHistogram {
  static readonly GROWTH = 1.01;
  private static readonly LOG = Math.log(LatencyHistogram.GROWTH);
  counts: number[] = [];
  total = 0;
  maxMs = 0;

  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const bucket = Math.floor(Math.log(us) / LatencyHistogram.LOG);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.total += 1;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  add(other: { counts: (number | null)[]; total: number; maxMs: number }): void {
    other.counts.forEach((count, bucket) => {
      if (count) this.counts[bucket] = (this.counts[bucket] ?? 0) + count;
    });
    this.total += other.total;
    this.maxMs = Math.max(this.maxMs, other.maxMs);
  }

  /** Upper edge of the bucket holding the p-th percentile, in ms. */
  percentile(p: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket += 1) {
      seen += this.counts[bucket] ?? 0;
      if (seen >= rank) return Math.min(this.maxMs, LatencyHistogram.GROWTH ** (bucket + 1) / 1000);
    }
    return this.maxMs;
  }

  toJSON(): { counts: number[]; total: number; maxMs: number } {
    return { counts: Array.from(this.counts, (c) => c ?? 0), total: this.total, maxMs: this.maxMs };
  }
}
