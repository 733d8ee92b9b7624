/**
 * Redis time read off this process's monotonic clock (`performance.now()`): every reply that
 * carries Redis's `now` anchors it, and in between Redis now ≈ redisAt + (mono - monoAt). A
 * wall-clock jump on this node changes nothing. Where the anchor's monotonic moment lies is the
 * caller's choice (the midpoint of the round trip, or when the call was sent).
 */
export class RedisClock {
  private redisAt = 0;
  private monoAt = 0;
  private anchored = false;

  /** Redis said its time was `redisNow` at the monotonic moment `monoAt`. */
  anchor(redisNow: number, monoAt: number): void {
    this.redisAt = redisNow;
    this.monoAt = monoAt;
    this.anchored = true;
  }

  /** Redis time (ms) at the monotonic moment `mono`; null before the first anchor. */
  at(mono: number): number | null {
    return this.anchored ? this.redisAt + (mono - this.monoAt) : null;
  }
}
