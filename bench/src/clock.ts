/**
 * Milliseconds on CLOCK_MONOTONIC. The same clock in every process on the machine, so a death
 * stamped in a load generator and an arrival stamped in an event probe can be subtracted.
 */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true or the deadline passes; returns whether it became true. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = monoMs() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // Not ready yet.
    }
    if (monoMs() >= deadline) return false;
    await sleep(everyMs);
  }
}
