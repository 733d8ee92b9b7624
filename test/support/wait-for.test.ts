import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('returns the first value the check finds', async () => {
    let calls = 0;
    const found = await waitFor(() => (++calls === 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(found).toEqual({ calls: 3 });
  });

  it('keeps polling while the check says undefined, null or false', async () => {
    const answers = [undefined, null, false, 0, ''];
    // 0 and '' are values found: only the three "nothing yet" answers are passed over.
    expect(await waitFor(() => answers.shift(), { intervalMs: 1 })).toBe(0);
  });

  it('treats a check that throws as not yet, and reports its last error at the deadline', async () => {
    let calls = 0;
    expect(
      await waitFor(
        () => {
          calls += 1;
          if (calls < 3) throw new Error('not ready');
          return true;
        },
        { intervalMs: 1 },
      ),
    ).toBe(true);
    await expect(
      waitFor(
        () => {
          throw new Error('still broken');
        },
        { timeoutMs: 30, intervalMs: 5, what: 'the thing' },
      ),
    ).rejects.toThrow('timed out after 30 ms waiting for the thing (last: still broken)');
  });

  it('fails at the deadline when the check keeps returning null', async () => {
    const started = performance.now();
    await expect(waitFor(() => null, { timeoutMs: 50, intervalMs: 5, what: 'a value' })).rejects.toThrow(
      'timed out after 50 ms waiting for a value (last: null)',
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
  });

  it('awaits an async check', async () => {
    let ready = false;
    setTimeout(() => (ready = true), 20);
    expect(await waitFor(async () => Promise.resolve(ready), { timeoutMs: 2_000, intervalMs: 2 })).toBe(true);
  });
});
