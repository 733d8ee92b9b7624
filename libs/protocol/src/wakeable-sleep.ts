/**
 * Sleeps that another part of the owner can cut short (stop, new data, a newer job). `wake()` ends
 * every sleep under way; a sleep that starts after it runs its full time. Kept here, in the one lib the
 * SDK and the services already share (it has no dependencies); it uses timers alone, so the SDK's
 * browser bundle can take it too.
 */
export class WakeableSleep {
  private readonly wakers = new Set<() => void>();

  /** Resolves after `ms` (a negative `ms` counts as 0), or at once when `wake()` is called meanwhile. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakers.add(done);
    });
  }

  /** Ends every sleep under way, if any. */
  wake(): void {
    for (const done of [...this.wakers]) done();
  }
}
