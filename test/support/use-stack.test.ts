import { describe, expect, it } from 'vitest';
import { lateBound } from './use-stack.js';

class Counter {
  count = 0;
  private readonly step = 2;

  get doubled(): number {
    return this.count * 2;
  }

  bump(): number {
    this.count += this.step;
    return this.count;
  }
}

describe('lateBound', () => {
  it('says what is missing when used before it is set', () => {
    const { handle } = lateBound<Counter>('the counter');
    expect(() => handle.count).toThrow('the counter is not there yet');
  });

  it('reads, writes and calls through to the value once set, with `this` bound to it', () => {
    const late = lateBound<Counter>('the counter');
    const counter = new Counter();
    late.set(counter);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- the handle binds its methods: this checks it
    const { bump } = late.handle;
    expect(bump()).toBe(2);
    late.handle.count = 10;
    expect(counter.count).toBe(10);
    expect(late.handle.doubled).toBe(20);
    expect(late.handle instanceof Counter).toBe(true);
    expect(late.value()).toBe(counter);
  });
});
