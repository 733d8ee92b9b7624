/**
 * The keys of one channel. Every key carries the hash tag `{c:<channel>}`, so a channel's scripts
 * touch one Redis Cluster slot, whichever shard its members' sessions live in.
 */
export interface ChannelKeys {
  channel: string;
  /** ZSET clientId (score 0, ordered by id for cursor paging): the clients with a session joined. */
  clients: string;
  /** HASH `<clientId>|<sessionId>` -> {"node","joinedAt"[,"state"]}: every joined session (HLEN is the session occupancy). */
  sessions: string;
  /** ZSET `<clientId>|<sessionId>` (score 0): the sessions in client order, for a members page in three commands. */
  index: string;
  /** STRING: the channel's event counter; an event's `version` (only grows, per channel and so per member). */
  seq: string;
  /** ZSET sessionId -> when it ended: sessions whose end was applied here; a late JOIN of one is refused. */
  ended: string;
  /** STREAM of the channel's events. */
  events: string;
}

export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const base = `${prefix}:{c:${channel}}:`;
  return {
    channel,
    clients: `${base}clients`,
    sessions: `${base}sessions`,
    index: `${base}index`,
    seq: `${base}seq`,
    ended: `${base}ended`,
    events: `${base}events`,
  };
}
