import { describe, expect, it } from 'vitest';
import type { ScenarioRun } from './context.js';
import { medians, targets, type BenchResults } from './report.js';

const results = (scenarios: BenchResults['scenarios']): BenchResults => ({
  label: 'test', quick: false, runs: 3, startedAt: '2026-11-22T00:00:00Z', durationSeconds: 1, machine: {}, scenarios, loadAverages: {},
});
const runs = (...metrics: Record<string, number>[]): ScenarioRun[] => metrics.map((m) => ({ metrics: m }));

describe('medians', () => {
  it('takes each metric’s median over the runs, skipping runs that lack it', () => {
    expect(medians(runs({ a: 1, b: 10 }, { a: 3 }, { a: 2, b: 30 }))).toEqual({ a: 2, b: 20 });
  });
});

describe('targets', () => {
  const row = (rows: ReturnType<typeof targets>, start: string) => rows.find((r) => r.target.startsWith(start));

  it('checks the medians, not the best run', () => {
    const rows = targets(results({ detection: runs({ 'ours.b.p99': 90, 'ours.b.missing': 0 }, { 'ours.b.p99': 120, 'ours.b.missing': 0 }, { 'ours.b.p99': 110, 'ours.b.missing': 0 }) }));
    expect(row(rows, 'p99 ≤ 100 ms')).toMatchObject({ measured: '110 ms', met: false });
  });

  it('fails a latency target when an event went missing, however fast the rest were', () => {
    const rows = targets(results({ detection: runs({ 'ours.b.p99': 40, 'ours.b.missing': 2 }) }));
    expect(row(rows, 'p99 ≤ 100 ms')?.met).toBe(false);
  });

  it('marks what a run did not measure as such, not as met', () => {
    const rows = targets(results({ sweep: runs({ sessions: 100_000, allRemovedMs: 1_500, longestCallMs: 12 }) }));
    expect(row(rows, 'all offline events out within 2 s')).toMatchObject({ met: true, measured: '1500 ms' });
    expect(row(rows, 'no Redis call over 10 ms')).toMatchObject({ met: false, measured: '12.00 ms' });
    expect(row(rows, 'GET /v1/presence/:id')).toMatchObject({ met: null, measured: 'not measured' });
  });

  it('requires the API’s GET target to hold at the stated rate', () => {
    const slow = targets(results({ api: runs({ 'get2000.p99Ms': 2, 'get2000.ratePerSecond': 1_200 }) }));
    expect(row(slow, 'GET /v1/presence/:id')?.met).toBe(false);
    const ok = targets(results({ api: runs({ 'get2000.p99Ms': 2, 'get2000.ratePerSecond': 2_000 }) }));
    expect(row(ok, 'GET /v1/presence/:id')?.met).toBe(true);
  });
});
