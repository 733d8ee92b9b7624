/** How delivery attempts are spaced (docs/webhooks.md, "Retries"). */
export interface RetrySchedule {
  /** Delay after the first failed attempt. */
  backoffMs: number;
  /** Longest delay. */
  backoffMaxMs: number;
  /** How long an event is retried after it was queued. */
  retryForMs: number;
}

/** Each delay is drawn from [½, 1] of its exponential value: attempts of many endpoints spread out instead of arriving together. */
const JITTER = 0.5;

/** What the failed attempt learnt that bounds the next delay. */
export interface RetryHints {
  /** The receiver's Retry-After (429, 503), in ms. */
  retryAfterMs: number | null;
  /** Until the oldest queued event's retry window ends: the last attempt falls then, not later. */
  expiresInMs: number | null;
}

/**
 * The delay before attempt `attemptsMade + 1`: `backoffMs · 2^(attemptsMade−1)`, capped at
 * `backoffMaxMs`, times a random factor in [½, 1]; at least the receiver's Retry-After; at most
 * until the oldest event's window ends. It is BullMQ's backoff (the worker's custom strategy), so
 * BullMQ holds the job in its delayed set meanwhile. Not BullMQ's built-in `exponential`: it has no
 * cap (after a day of failures its next delay would be another day) and can't read Retry-After.
 */
export function retryDelay(schedule: RetrySchedule, attemptsMade: number, hints: RetryHints, random: () => number = Math.random): number {
  const exponential = Math.min(schedule.backoffMaxMs, schedule.backoffMs * 2 ** Math.min(Math.max(attemptsMade - 1, 0), 40));
  let delay = Math.round(exponential * (1 - JITTER * random()));
  if (hints.retryAfterMs !== null) delay = Math.max(delay, hints.retryAfterMs);
  if (hints.expiresInMs !== null) delay = Math.min(delay, Math.max(0, hints.expiresInMs));
  return delay;
}

/**
 * BullMQ's `attempts` for a delivery job: more than the attempts that fit in the retry window at the
 * shortest delays, so that the window (the age of the queued events), not the count, ends retries.
 */
export function attemptsFor(schedule: RetrySchedule): number {
  let elapsed = 0;
  let attempts = 1;
  while (elapsed < schedule.retryForMs) {
    elapsed += Math.min(schedule.backoffMaxMs, schedule.backoffMs * 2 ** Math.min(attempts - 1, 40)) * (1 - JITTER);
    attempts += 1;
  }
  return attempts + 1;
}
