import { describe, expect, it } from 'vitest';
import type { ScenarioRun } from './context.js';
import { medians, renderReport, targets, type BenchResults } from './report.js';

const results = (scenarios: BenchResults['scenarios']): BenchResults => ({
  label: 'test',
  quick: false,
  runs: 3,
  startedAt: '2026-11-22T00:00:00Z',
  durationSeconds: 1,
  machine: {},
  scenarios,
  loadAverages: {},
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
    const rows = targets(
      results({
        detection: runs(
          { 'ours.b.p99': 90, 'ours.b.missing': 0 },
          { 'ours.b.p99': 120, 'ours.b.missing': 0 },
          { 'ours.b.p99': 110, 'ours.b.missing': 0 },
        ),
      }),
    );
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

  it('judges our first page ≥ 10× faster than fetchSockets() at p50 and p99, with every member answered', () => {
    const channels = (extra: Record<string, number>) =>
      targets(results({ channels: runs({ 'sio.members': 10_000, 'sio.fetch.incomplete': 0, ...extra }) }));
    const start = 'first page ≥ 10× faster than Socket.IO';
    expect(row(channels({ 'sio.fetchOverMembersP50': 14, 'sio.fetchOverMembersP99': 11.5 }), start)).toMatchObject({
      measured: 'p50 14.0×, p99 11.5×',
      met: true,
    });
    expect(row(channels({ 'sio.fetchOverMembersP50': 8, 'sio.fetchOverMembersP99': 30 }), start)?.met).toBe(false);
    const short = channels({ 'sio.fetchOverMembersP50': 14, 'sio.fetchOverMembersP99': 14, 'sio.fetch.incomplete': 1 });
    expect(row(short, start)?.met).toBe(false);
    expect(row(targets(results({ channels: runs({ 'members.p99Ms': 5 }) })), start)).toMatchObject({ met: null, measured: 'not measured' });
  });
});

describe('renderReport', () => {
  it('puts the Socket.IO figures beside ours in the channels section', () => {
    const markdown = renderReport(
      results({
        channels: runs({
          'members.channelSize': 10_000,
          'members.p50Ms': 4,
          'members.p99Ms': 8,
          'sio.sockets': 10_000,
          'sio.members': 10_000,
          'sio.fetch.p50Ms': 120,
          'sio.fetch.p99Ms': 240,
          'sio.fetch.incomplete': 0,
          'sio.fetchOverMembersP50': 30,
          'sio.fetchOverMembersP99': 30,
          'sio.join.rate': 1_000,
          'sio.join.p50Ms': 0.5,
          'sio.join.p99Ms': 3,
          'sio.join.failed': 0,
        }),
      }),
      null,
    );
    expect(markdown).toContain("`io.in('big').fetchSockets()` on node A, 10,000 sockets");
    expect(markdown).toContain('p99 240.00 ms');
    expect(markdown).toContain('p50 30.0×, **p99 30.0×**');
    expect(markdown).toContain('1000/s; p50 0.50 ms, p99 3.00 ms; 0 unanswered');
    expect(markdown).not.toContain('No Socket.IO baseline');
  });
});
