import { describe, expect, it } from 'vitest';
import { attemptsFor, retryDelay } from './retry-schedule.js';

const schedule = { backoffMs: 1_000, backoffMaxMs: 60_000, retryForMs: 86_400_000 };
const none = { retryAfterMs: null, expiresInMs: null };

describe('retryDelay', () => {
  it('doubles from backoffMs, with up to half of it taken off at random', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(schedule, n, none, () => 0))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3, 4].map((n) => retryDelay(schedule, n, none, () => 1))).toEqual([500, 1_000, 2_000, 4_000]);
  });

  it('never exceeds backoffMaxMs, however many attempts failed', () => {
    for (const n of [7, 20, 1_000, 100_000]) expect(retryDelay(schedule, n, none, () => 0)).toBe(60_000);
    expect(retryDelay(schedule, 1_000, none, () => 0.999)).toBeGreaterThanOrEqual(30_000);
  });

  it("waits at least the receiver's Retry-After, and at most until the oldest event's window ends", () => {
    expect(retryDelay(schedule, 1, { retryAfterMs: 30_000, expiresInMs: null }, () => 0)).toBe(30_000);
    expect(retryDelay(schedule, 10, { retryAfterMs: null, expiresInMs: 5_000 }, () => 0)).toBe(5_000);
    expect(retryDelay(schedule, 10, { retryAfterMs: 120_000, expiresInMs: 5_000 }, () => 0)).toBe(5_000);
    expect(retryDelay(schedule, 10, { retryAfterMs: null, expiresInMs: -3 }, () => 0)).toBe(0);
  });
});

describe('attemptsFor', () => {
  it('allows more attempts than fit in the window at the shortest delays', () => {
    const attempts = attemptsFor(schedule);
    let elapsed = 0;
    for (let n = 1; n < attempts - 1; n += 1) elapsed += retryDelay(schedule, n, none, () => 1);
    expect(elapsed).toBeGreaterThanOrEqual(schedule.retryForMs);
    // 20 retries at the shortest 50 ms fill 1 s; with the first attempt and one spare: 22.
    expect(attemptsFor({ backoffMs: 100, backoffMaxMs: 100, retryForMs: 1_000 })).toBe(22);
  });
});
