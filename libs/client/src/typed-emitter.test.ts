import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from './typed-emitter.js';

class Pinger extends TypedEmitter<{ ping: [n: number]; done: [] }> {
  fire(n: number): void {
    this.emit('ping', n);
  }
}

describe('TypedEmitter', () => {
  it('calls listeners with typed arguments; once() fires one time; off() removes either kind', () => {
    const emitter = new Pinger();
    const every = vi.fn();
    const first = vi.fn();
    const removed = vi.fn();
    emitter.on('ping', every).once('ping', first).once('ping', removed).off('ping', removed);
    emitter.fire(1);
    emitter.fire(2);
    expect(every.mock.calls).toEqual([[1], [2]]);
    expect(first.mock.calls).toEqual([[1]]);
    expect(removed).not.toHaveBeenCalled();
    expect(emitter.listenerCount('ping')).toBe(1);
  });

  it('keeps calling the other listeners when one throws, and reports the exception asynchronously', async () => {
    const emitter = new Pinger();
    const after = vi.fn();
    const reported = new Promise<unknown>((resolve) => {
      const original = queueMicrotask;
      vi.stubGlobal('queueMicrotask', (task: () => void) => {
        try {
          task();
        } catch (error) {
          resolve(error);
        }
        vi.stubGlobal('queueMicrotask', original);
      });
    });
    emitter.on('ping', () => {
      throw new Error('listener bug');
    });
    emitter.on('ping', after);
    emitter.fire(3);
    expect(after).toHaveBeenCalledWith(3);
    expect(await reported).toMatchObject({ message: 'listener bug' });
    vi.unstubAllGlobals();
  });
});
