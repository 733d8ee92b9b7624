/** What the tracker needs of a connection: two numbers kept on the connection itself. */
export interface Tracked {
  /** Monotonic ms of the last frame (or of acceptance). Written on every frame: a plain store. */
  lastActivity: number;
  /** Monotonic ms at which the entry took its place in the order; owned by the tracker. */
  trackedAt: number;
}

/**
 * Finds connections that have been silent for `timeoutMs` without one timer per connection and
 * without visiting every connection on every scan. Entries sit in insertion order (a Set); an
 * entry moves to the back only when it is touched at least `granularityMs` after its last move,
 * so the order is by `trackedAt` and `lastActivity - trackedAt < granularityMs`. A scan walks from
 * the front and stops at the first entry that cannot have expired: O(expired + moved) per scan.
 */
export class IdleTracker<T extends Tracked> {
  private readonly entries = new Set<T>();
  private readonly timeoutMs: number;
  private readonly granularityMs: number;

  constructor(timeoutMs: number, granularityMs: number = Math.min(1_000, Math.max(1, timeoutMs / 10))) {
    this.timeoutMs = timeoutMs;
    this.granularityMs = granularityMs;
  }

  get size(): number {
    return this.entries.size;
  }

  add(item: T, now: number): void {
    item.lastActivity = now;
    item.trackedAt = now;
    this.entries.delete(item);
    this.entries.add(item);
  }

  /** Records activity; cheap unless the entry is due to move. */
  touch(item: T, now: number): void {
    item.lastActivity = now;
    if (now - item.trackedAt >= this.granularityMs) {
      this.entries.delete(item);
      this.entries.add(item);
      item.trackedAt = now;
    }
  }

  delete(item: T): void {
    this.entries.delete(item);
  }

  /** Removes and returns every entry silent for the timeout as of `now`, oldest first. */
  expire(now: number): T[] {
    const expired: T[] = [];
    for (const item of this.entries) {
      if (item.trackedAt + this.timeoutMs > now) break;
      this.entries.delete(item);
      if (item.lastActivity + this.timeoutMs > now) {
        // Active since it last moved: put it back in its place by its real activity time.
        item.trackedAt = item.lastActivity;
        this.entries.add(item);
        continue;
      }
      expired.push(item);
    }
    return expired;
  }
}
