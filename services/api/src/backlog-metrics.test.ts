import { describe, expect, it } from 'vitest';
import { summarize } from './backlog-metrics.js';

const stream = (firstMs: number, lastMs: number, groups: [string, string][], entriesAdded: number | null = 1_000) => ({
  length: 500,
  firstId: `${firstMs}-0`,
  lastId: `${lastMs}-3`,
  entriesAdded,
  groups: groups.map(([name, lastDeliveredId]) => ({ name, lastDeliveredId })),
});

describe('summarize (the backlog gauges, from what Redis answered)', () => {
  it('sweep lag: how long the earliest deadline of any shard has passed, 0 when none has', () => {
    expect(summarize(10_000, []).overdueMs).toBe(0);
    expect(summarize(10_000, [{ earliestDeadline: 12_000, stream: null }]).overdueMs).toBe(0);
    expect(
      summarize(10_000, [
        { earliestDeadline: 9_500, stream: null },
        { earliestDeadline: null, stream: null },
        { earliestDeadline: 7_000, stream: null },
      ]).overdueMs,
    ).toBe(3_000);
  });

  it('a group that has read everything is not behind', () => {
    const { groups } = summarize(0, [{ earliestDeadline: null, stream: stream(1_000, 2_000, [['billing', '2000-3']]) }]);
    expect(groups.get('billing')).toEqual({ overrunShards: 0, behindMs: 0, behindRatio: 0 });
  });

  it('a group inside the retained window is behind by stream time, as a share of the window', () => {
    const { groups } = summarize(0, [{ earliestDeadline: null, stream: stream(1_000, 2_000, [['billing', '1250-0']]) }]);
    expect(groups.get('billing')).toEqual({ overrunShards: 0, behindMs: 750, behindRatio: 0.75 });
  });

  it('a group whose position trimming removed is overrun, with a ratio of 1 or more', () => {
    const { groups } = summarize(0, [{ earliestDeadline: null, stream: stream(1_000, 2_000, [['billing', '500-0']]) }]);
    expect(groups.get('billing')).toEqual({ overrunShards: 1, behindMs: 1_500, behindRatio: 1.5 });
  });

  it('a new group at 0-0 on a stream never trimmed has lost nothing (but is a whole window behind)', () => {
    const untrimmed = { ...stream(1_000, 2_000, [['audit', '0-0']], 500) };
    const { groups } = summarize(0, [{ earliestDeadline: null, stream: untrimmed }]);
    expect(groups.get('audit')).toEqual({ overrunShards: 0, behindMs: 1_000, behindRatio: 1 });
  });

  it('without entries-added (Redis < 7) a position before the first entry counts as overrun', () => {
    const { groups } = summarize(0, [{ earliestDeadline: null, stream: stream(1_000, 2_000, [['billing', '999-0']], null) }]);
    expect(groups.get('billing')?.overrunShards).toBe(1);
  });

  it('reports each group at its worst shard, and counts its overrun shards', () => {
    const { groups } = summarize(0, [
      {
        earliestDeadline: null,
        stream: stream(1_000, 2_000, [
          ['billing', '1900-0'],
          ['audit', '100-0'],
        ]),
      },
      {
        earliestDeadline: null,
        stream: stream(1_000, 2_000, [
          ['billing', '1500-0'],
          ['audit', '200-0'],
        ]),
      },
      { earliestDeadline: null, stream: null },
    ]);
    expect(groups.get('billing')).toEqual({ overrunShards: 0, behindMs: 500, behindRatio: 0.5 });
    expect(groups.get('audit')).toEqual({ overrunShards: 2, behindMs: 1_900, behindRatio: 1.9 });
  });
});
