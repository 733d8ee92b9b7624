import calculateSlot from 'cluster-key-slot';

/**
 * The only place key names are built. Every key of a shard carries the hash tag `{sN}`, so each
 * script touches one Redis Cluster slot. Client ids are validated (no `{`, `}`, `|` or spaces)
 * before they reach here, and the tag comes first in the key, so an id can't move a key to
 * another slot.
 */
export interface ShardKeys {
  shard: number;
  deadlines: string;
  meta: string;
  online: string;
  since: string;
  lastseen: string;
  events: string;
  /** Prefix of the per-client session hashes: `${clientPrefix}${clientId}`. */
  clientPrefix: string;
}

export class KeySpace {
  readonly prefix: string;
  readonly shardCount: number;
  /** Pub/sub channel every event is published on. */
  readonly eventsChannel: string;
  /** BullMQ's prefix: one hash tag so that the queue works on Redis Cluster. */
  readonly queuePrefix: string;
  readonly nodeDeadlines: string;
  readonly nodeInfo: string;
  private readonly shards: ShardKeys[];

  constructor(prefix: string, shardCount: number) {
    this.prefix = prefix;
    this.shardCount = shardCount;
    this.eventsChannel = `${prefix}:events`;
    this.queuePrefix = `${prefix}:{sweeper}`;
    this.nodeDeadlines = `${prefix}:{nodes}:deadlines`;
    this.nodeInfo = `${prefix}:{nodes}:info`;
    this.shards = Array.from({ length: shardCount }, (_, shard) => {
      const base = `${prefix}:{s${shard}}:`;
      return {
        shard,
        deadlines: `${base}deadlines`,
        meta: `${base}meta`,
        online: `${base}online`,
        since: `${base}since`,
        lastseen: `${base}lastseen`,
        events: `${base}events`,
        clientPrefix: `${base}client:`,
      };
    });
  }

  /** Which shard a client belongs to: its id's cluster slot modulo the shard count (stable forever). */
  shardOf(clientId: string): number {
    return calculateSlot(clientId) % this.shardCount;
  }

  shard(shard: number): ShardKeys {
    const keys = this.shards[shard];
    if (keys === undefined) throw new RangeError(`shard ${shard} is outside 0..${this.shardCount - 1}`);
    return keys;
  }

  client(clientId: string): string {
    return this.shard(this.shardOf(clientId)).clientPrefix + clientId;
  }

  allShards(): readonly ShardKeys[] {
    return this.shards;
  }
}

/** The member of a session in its shard's deadlines set. */
export function sessionMember(sessionId: string, clientId: string): string {
  return `${sessionId}|${clientId}`;
}
