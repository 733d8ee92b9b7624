import { describe, expect, it } from 'vitest';
import { WakeableSleep } from './wakeable-sleep.js';

const LONG_MS = 60_000;

describe('WakeableSleep', () => {
  it('resolves by itself after its time', async () => {
    const started = performance.now();
    await new WakeableSleep().sleep(20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(19);
  });

  it('wake() ends every sleep under way at once', async () => {
    const pause = new WakeableSleep();
    const ended: string[] = [];
    const sleeps = ['a', 'b'].map((name) => pause.sleep(LONG_MS).then(() => ended.push(name)));
    pause.wake();
    await Promise.all(sleeps);
    expect(ended.sort()).toEqual(['a', 'b']);
  });

  it('a sleep that starts after wake() runs its full time', async () => {
    const pause = new WakeableSleep();
    pause.wake();
    let ended = false;
    const sleeping = pause.sleep(LONG_MS).then(() => (ended = true));
    // A sentinel: a short sleep of another instance ends first, and the long one is still asleep then.
    await new WakeableSleep().sleep(10);
    expect(ended).toBe(false);
    pause.wake();
    await sleeping;
    expect(ended).toBe(true);
  });
});
