export interface BackoffOptions {
  /** Ceiling of the first delay. */
  baseMs: number;
  /** Largest ceiling. */
  capMs: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Exponential backoff with "full jitter" (Brooker, "Exponential Backoff And Jitter", AWS
 * Architecture Blog, 2015): attempt n waits a uniformly random time in [0, min(cap, base × 2^(n-1))).
 * Randomising the whole delay, not just a fraction of it, is what spreads clients that failed
 * together over the whole window, so they don't retry in synchronised waves.
 */
export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly random: () => number;
  private attempts = 0;

  constructor(options: BackoffOptions) {
    if (!(options.baseMs > 0) || !(options.capMs >= options.baseMs)) {
      throw new RangeError(`backoff needs 0 < baseMs <= capMs (got ${options.baseMs} and ${options.capMs})`);
    }
    this.baseMs = options.baseMs;
    this.capMs = options.capMs;
    this.random = options.random ?? Math.random;
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** The upper bound of the delay of attempt n (1-based). */
  ceiling(attempt: number): number {
    // 2^30 × base is far past any cap: stop doubling before the number grows unbounded.
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  }

  /** Counts one more attempt and returns how long to wait before it. */
  next(): number {
    this.attempts += 1;
    return Math.floor(this.random() * this.ceiling(this.attempts));
  }

  reset(): void {
    this.attempts = 0;
  }
}

/** A uniformly random delay in [0, windowMs): spreads a planned reconnect (server drain) over a window. */
export function jitter(windowMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.max(0, windowMs));
}
