import calculateSlot from 'cluster-key-slot';
import { channelKeys, type ChannelKeys } from './channel-keys.js';
import { webhookChannelKeys, webhookKeys, webhookShardKeys, type WebhookKeys, type WebhookSourceKeys } from './webhook-keys.js';

/**
 * The keys of one shard. Every key of a shard carries the hash tag `{sN}`, so each script touches
 * one Redis Cluster slot. A new per-shard key (channel presence will add some) is one field here and
 * one line in `shardKeys`.
 */
export interface ShardKeys {
  shard: number;
  deadlines: string;
  meta: string;
  online: string;
  since: string;
  lastseen: string;
  events: string;
  /**
   * STREAM: one entry per ended session that had joined channels (its channels, reason and time),
   * drained by the sweeper's channel processor (docs/data-model.md, "Channels").
   */
  outbox: string;
  /** Prefix of the per-client session hashes: `${clientPrefix}${clientId}`. */
  clientPrefix: string;
}

/** Separates the session id from the client id in a member of a shard's deadlines set. */
export const SESSION_MEMBER_SEPARATOR = '|';

/**
 * The only place key and channel names are built (docs/data-model.md lists them). Client ids are
 * validated (no `{`, `}`, `|` or spaces) before they reach here, and the tag comes first in the
 * key, so an id can't move a key to another slot.
 */
export class KeySpace {
  readonly prefix: string;
  readonly shardCount: number;
  /** Pub/sub channel every event is published on. */
  readonly eventsChannel: string;
  /** Pub/sub channel every channel event is published on (JSON, channel-event.ts). */
  readonly channelEventsChannel: string;
  /** BullMQ's prefix: one hash tag so that the queue works on Redis Cluster. */
  readonly queuePrefix: string;
  readonly nodeDeadlines: string;
  readonly nodeInfo: string;
  /** Sweepers' heartbeats: the same shape as the edge nodes' two keys, under the same tag (node-beat-2). */
  readonly sweeperDeadlines: string;
  readonly sweeperInfo: string;
  /**
   * STREAM of the dashboard's history samples, one entry per interval with id `<interval start ms>-0`:
   * the id is the once-only guard (a second replica's XADD for the same interval is refused). Its own
   * tag: it is only ever touched alone.
   */
  readonly statsSamples: string;
  /** Deployment-wide webhook keys (webhook-keys.ts). */
  readonly webhooks: WebhookKeys;
  private readonly shards: ShardKeys[];
  private readonly webhookSourceKeys: WebhookSourceKeys[];

  constructor(prefix: string, shardCount: number) {
    this.prefix = prefix;
    this.shardCount = shardCount;
    this.eventsChannel = `${prefix}:events`;
    this.channelEventsChannel = `${prefix}:channel-events`;
    this.queuePrefix = `${prefix}:{sweeper}`;
    this.nodeDeadlines = `${prefix}:{nodes}:deadlines`;
    this.nodeInfo = `${prefix}:{nodes}:info`;
    this.sweeperDeadlines = `${prefix}:{nodes}:sweepers:deadlines`;
    this.sweeperInfo = `${prefix}:{nodes}:sweepers:info`;
    this.statsSamples = `${prefix}:{stats}:samples`;
    this.shards = Array.from({ length: shardCount }, (_, shard) => KeySpace.shardKeys(prefix, shard));
    this.webhooks = webhookKeys(prefix);
    this.webhookSourceKeys = this.shards.map((keys) => webhookShardKeys(prefix, keys.shard, keys.events));
  }

  /** The keys of shard `shard` under `prefix`, for a caller that has no KeySpace of the deployment. */
  static shardKeys(prefix: string, shard: number): ShardKeys {
    const base = `${prefix}:{s${shard}}:`;
    return {
      shard,
      deadlines: `${base}deadlines`,
      meta: `${base}meta`,
      online: `${base}online`,
      since: `${base}since`,
      lastseen: `${base}lastseen`,
      events: `${base}events`,
      outbox: `${base}outbox`,
      clientPrefix: `${base}client:`,
    };
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

  /** The keys of a channel (its name already validated: isValidChannel in libs/protocol). */
  channel(channel: string): ChannelKeys {
    return channelKeys(this.prefix, channel);
  }

  allShards(): readonly ShardKeys[] {
    return this.shards;
  }

  /** The shard streams webhooks deliver from, with their webhook keys, in shard order. */
  webhookSources(): readonly WebhookSourceKeys[] {
    return this.webhookSourceKeys;
  }

  /** A channel's stream as a webhook source (its name already validated), with its webhook keys. */
  webhookChannelSource(channel: string): WebhookSourceKeys {
    return webhookChannelKeys(this.prefix, channel);
  }
}

/** The member of a session in its shard's deadlines set. */
export function sessionMember(sessionId: string, clientId: string): string {
  return `${sessionId}${SESSION_MEMBER_SEPARATOR}${clientId}`;
}
