import { describe, expect, it } from 'vitest';
import { Backoff, jitter } from './backoff.js';

describe('Backoff (full jitter)', () => {
  it('doubles the ceiling per attempt up to the cap', () => {
    const backoff = new Backoff({ baseMs: 500, capMs: 30_000 });
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoff.ceiling(n))).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(backoff.ceiling(10_000)).toBe(30_000);
  });

  it('draws each delay uniformly below the ceiling of its attempt', () => {
    const top = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.999_999 });
    expect([top.next(), top.next(), top.next(), top.next(), top.next()]).toEqual([99, 199, 399, 799, 999]);
    const bottom = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0 });
    expect([bottom.next(), bottom.next()]).toEqual([0, 0]);
  });

  it('starts over after reset()', () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 1000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    expect(backoff.attempt).toBe(2);
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it('spreads 1000 draws over the whole window, not around its middle', () => {
    const backoff = new Backoff({ baseMs: 1000, capMs: 1000 });
    const delays = Array.from({ length: 1000 }, () => backoff.next()).sort((a, b) => a - b);
    expect(delays[100]).toBeLessThan(200);
    expect(delays[900]).toBeGreaterThan(800);
  });

  it('refuses a cap below the base', () => {
    expect(() => new Backoff({ baseMs: 1000, capMs: 10 })).toThrow(/0 < baseMs <= capMs/);
  });

  it('jitter() stays inside its window', () => {
    expect(jitter(2000, () => 0.999_999)).toBe(1999);
    expect(jitter(2000, () => 0)).toBe(0);
    expect(jitter(0)).toBe(0);
  });
});
