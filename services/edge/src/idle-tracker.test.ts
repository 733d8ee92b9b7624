import { describe, expect, it } from 'vitest';
import { IdleTracker, UNTRACKED, type Tracked } from './idle-tracker.js';

const item = (name: string): Tracked & { name: string } => ({ name, ...UNTRACKED });

describe('IdleTracker', () => {
  it('expires exactly the entries silent for the timeout', () => {
    const tracker = new IdleTracker<ReturnType<typeof item>>(1_000, 100);
    const a = item('a');
    const b = item('b');
    const c = item('c');
    tracker.add(a, 0);
    tracker.add(b, 0);
    tracker.add(c, 500);
    tracker.touch(a, 950);
    expect(tracker.expire(999).map((x) => x.name)).toEqual([]);
    expect(tracker.expire(1_000).map((x) => x.name)).toEqual(['b']);
    expect(tracker.expire(1_499).map((x) => x.name)).toEqual([]);
    expect(tracker.expire(1_500).map((x) => x.name)).toEqual(['c']);
    expect(tracker.expire(1_950).map((x) => x.name)).toEqual(['a']);
    expect(tracker.size).toBe(0);
  });

  it('keeps entries touched within the granularity correct', () => {
    const tracker = new IdleTracker<ReturnType<typeof item>>(1_000, 1_000);
    const a = item('a');
    tracker.add(a, 0);
    // Touches inside the granularity do not move the entry, but still count.
    for (let t = 10; t <= 900; t += 10) tracker.touch(a, t);
    expect(tracker.expire(1_500)).toEqual([]);
    expect(tracker.expire(1_899)).toEqual([]);
    expect(tracker.expire(1_900).map((x) => x.name)).toEqual(['a']);
  });

  it('stops at the first entry that cannot have expired (no full scan)', () => {
    // Entries that record each read of their times: a scan that looks at an entry reads one of them.
    const looked = new Set<string>();
    const watched = (name: string): Tracked & { name: string } => {
      let trackedAt = 0;
      let lastActivity = 0;
      return {
        name,
        ...UNTRACKED,
        get trackedAt() {
          looked.add(name);
          return trackedAt;
        },
        set trackedAt(value: number) {
          trackedAt = value;
        },
        get lastActivity() {
          looked.add(name);
          return lastActivity;
        },
        set lastActivity(value: number) {
          lastActivity = value;
        },
      };
    };
    const tracker = new IdleTracker<ReturnType<typeof watched>>(1_000, 100);
    const many = Array.from({ length: 10_000 }, (_, i) => watched(String(i)));
    many.forEach((x, i) => tracker.add(x, i));
    looked.clear();
    expect(tracker.expire(1_000 + 9).map((x) => x.name)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // The ten expired entries and the one that stopped the walk; a full scan would look at 10,000.
    expect([...looked].sort((a, b) => Number(a) - Number(b))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(tracker.size).toBe(9_990);
  });

  it('deleted entries never expire', () => {
    const tracker = new IdleTracker<ReturnType<typeof item>>(10, 1);
    const a = item('a');
    tracker.add(a, 0);
    tracker.delete(a);
    expect(tracker.expire(100)).toEqual([]);
  });

  it('moves an entry between trackers and keeps both lists whole', () => {
    const hello = new IdleTracker<ReturnType<typeof item>>(100, 10);
    const live = new IdleTracker<ReturnType<typeof item>>(1_000, 10);
    const [a, b, c] = [item('a'), item('b'), item('c')];
    hello.add(a, 0);
    hello.add(b, 0);
    hello.add(c, 0);
    live.add(b, 50);
    // Deleting from a tracker that does not hold the entry changes nothing.
    hello.delete(b);
    expect([hello.size, live.size]).toEqual([2, 1]);
    live.touch(b, 500);
    expect(hello.expire(100).map((x) => x.name)).toEqual(['a', 'c']);
    expect(live.expire(1_499)).toEqual([]);
    expect(live.expire(1_500).map((x) => x.name)).toEqual(['b']);
    expect([hello.size, live.size]).toEqual([0, 0]);
  });
});
