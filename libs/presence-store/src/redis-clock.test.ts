import { describe, expect, it } from 'vitest';
import { RedisClock } from './redis-clock.js';

describe('RedisClock', () => {
  it('knows nothing before its first anchor', () => {
    expect(new RedisClock().at(1_000)).toBeNull();
  });

  it('reads Redis time off the monotonic clock from the latest anchor', () => {
    const clock = new RedisClock();
    clock.anchor(1_700_000_000_000, 500);
    expect(clock.at(500)).toBe(1_700_000_000_000);
    expect(clock.at(750.5)).toBe(1_700_000_000_250.5);
    expect(clock.at(400)).toBe(1_699_999_999_900);
    clock.anchor(1_700_000_010_000, 10_000);
    expect(clock.at(10_020)).toBe(1_700_000_010_020);
  });
});
