/** What the tracker needs of a connection: kept on the connection itself, so tracking allocates nothing. */
export interface Tracked {
  /** Monotonic ms of the last frame (or of acceptance). Written on every frame: a plain store. */
  lastActivity: number;
  /** Monotonic ms at which the entry took its place in the order; owned by the tracker. */
  trackedAt: number;
  /** The tracker whose list holds the entry (null: none), and its neighbours there; owned by the tracker. */
  trackedBy: IdleTracker<Tracked> | null;
  trackPrev: Tracked | null;
  trackNext: Tracked | null;
}

/** The link fields of an entry that no tracker holds yet, to spread into a new entry. */
export const UNTRACKED = { lastActivity: 0, trackedAt: 0, trackedBy: null, trackPrev: null, trackNext: null } as const;

/**
 * Finds connections that have been silent for `timeoutMs` without one timer per connection and
 * without visiting every connection on every scan. Entries sit in a list in the order they took
 * their place; an entry moves to the back only when it is touched at least `granularityMs` after
 * its last move, so the order is by `trackedAt` and `lastActivity - trackedAt < granularityMs`.
 * A scan walks from the front and stops at the first entry that cannot have expired:
 * O(expired + moved) per scan.
 *
 * The list is intrusive (the links are fields of the entries): an edge holding 18,000 idle
 * connections spent ~70 bytes each on a Set's hash table, and the Set's delete-and-add moves
 * made it rebuild its 1.3 MB table every ~26 s, garbage that only a full GC collects. An entry is
 * in at most one tracker: adding it to one takes it out of the other.
 */
export class IdleTracker<T extends Tracked> {
  private head: T | null = null;
  private tail: T | null = null;
  private count = 0;
  private readonly timeoutMs: number;
  private readonly granularityMs: number;

  constructor(timeoutMs: number, granularityMs: number = Math.min(1_000, Math.max(1, timeoutMs / 10))) {
    this.timeoutMs = timeoutMs;
    this.granularityMs = granularityMs;
  }

  get size(): number {
    return this.count;
  }

  add(item: T, now: number): void {
    item.trackedBy?.delete(item);
    item.lastActivity = now;
    this.append(item, now);
  }

  /** Records activity; cheap unless the entry is due to move. */
  touch(item: T, now: number): void {
    item.lastActivity = now;
    if (now - item.trackedAt >= this.granularityMs && item.trackedBy === this) {
      this.unlink(item);
      this.append(item, now);
    }
  }

  delete(item: T): void {
    if (item.trackedBy === this) this.unlink(item);
  }

  /** Removes and returns every entry silent for the timeout as of `now`, oldest first. */
  expire(now: number): T[] {
    const expired: T[] = [];
    let item = this.head;
    while (item !== null && item.trackedAt + this.timeoutMs <= now) {
      this.unlink(item);
      // Active since it last moved: back in its place by its real activity time.
      if (item.lastActivity + this.timeoutMs > now) this.append(item, item.lastActivity);
      else expired.push(item);
      item = this.head;
    }
    return expired;
  }

  private append(item: T, trackedAt: number): void {
    item.trackedAt = trackedAt;
    item.trackedBy = this;
    item.trackPrev = this.tail;
    item.trackNext = null;
    if (this.tail === null) this.head = item;
    else this.tail.trackNext = item;
    this.tail = item;
    this.count += 1;
  }

  private unlink(item: T): void {
    const prev = item.trackPrev as T | null;
    const next = item.trackNext as T | null;
    if (prev === null) this.head = next;
    else prev.trackNext = next;
    if (next === null) this.tail = prev;
    else next.trackPrev = prev;
    item.trackPrev = null;
    item.trackNext = null;
    item.trackedBy = null;
    this.count -= 1;
  }
}
