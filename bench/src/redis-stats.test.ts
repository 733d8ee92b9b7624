import { describe, expect, it } from 'vitest';
import { commandDelta } from './redis-stats.js';

describe('commandDelta', () => {
  const before = { calls: { evalsha: 10, zadd: 100, info: 5 }, usec: { evalsha: 1_000, zadd: 50, info: 9 } };

  it('counts every command Redis ran, scripts and their inner commands alike, but not the bench’s own', () => {
    const after = { calls: { evalsha: 12, zadd: 2_100, info: 9, xadd: 3 }, usec: { evalsha: 1_600, zadd: 900, info: 20, xadd: 7 } };
    const delta = commandDelta(before, after);
    expect(delta).toEqual({ all: 2 + 2_000 + 3, scripts: 2, byCommand: { evalsha: 2, zadd: 2_000, xadd: 3 }, usec: 600 });
  });

  it('times direct commands when no script ran (a naive design)', () => {
    const after = { calls: { evalsha: 10, zadd: 1_100, info: 6 }, usec: { evalsha: 1_000, zadd: 550, info: 12 } };
    expect(commandDelta(before, after)).toMatchObject({ all: 1_000, scripts: 0, usec: 500 });
  });
});
