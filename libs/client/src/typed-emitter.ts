type Listener<Args extends unknown[]> = (...args: Args) => void;
// Listeners of every event name live in one map; emit() restores their argument types.
type AnyListener = (...args: never[]) => void;

/**
 * A small event emitter with typed event names and arguments. Unlike node:events it does not throw
 * when `error` has no listener (the SDK reports fatal errors through promises too), and a listener
 * that throws can't corrupt the emitter's caller: the exception is rethrown on a microtask, where
 * it surfaces as an uncaught exception like any other bug.
 */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown[] }> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();
  private readonly onceWrappers = new WeakMap<AnyListener, AnyListener>();

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as unknown as AnyListener);
    return this;
  }

  once<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    const wrapper = (...args: Events[K]) => {
      this.off(name, wrapper);
      listener(...args);
    };
    this.onceWrappers.set(listener as unknown as AnyListener, wrapper as unknown as AnyListener);
    return this.on(name, wrapper);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    const set = this.listeners.get(name);
    const key = listener as unknown as AnyListener;
    set?.delete(key);
    // off() with the function given to once() removes its wrapper.
    const wrapper = this.onceWrappers.get(key);
    if (wrapper !== undefined && set?.delete(wrapper)) this.onceWrappers.delete(key);
    return this;
  }

  listenerCount(name: keyof Events): number {
    return this.listeners.get(name)?.size ?? 0;
  }

  protected emit<K extends keyof Events>(name: K, ...args: Events[K]): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as unknown as Listener<Events[K]>)(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
