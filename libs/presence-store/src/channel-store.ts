import { CHANNEL_RULE, CLIENT_ID_RULE, isValidChannel, isValidClientId } from '@presence/protocol';
import {
  channelEventFromStreamFields,
  type ChannelEvent,
  type ChannelKeys,
  type ChannelLeaveReason,
  type ChannelOccupancy,
  type KeySpace,
  streamFieldMap,
} from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';
import { StoreInputError } from './errors.js';
import { channelLeaveReply, channelMembersReply, channelOccupancyReply, channelWriteReply, trackChannelReply } from './script-replies.js';
import { defineScripts, type ChannelScriptKeys, type ScriptCommands } from './scripts.js';
import type { SessionRef } from './types.js';

/** Channels per channel-occupancy-n call. */
const OCCUPANCY_CALL = 1_000;

export const CHANNEL_DEFAULTS = {
  /** Events kept per channel stream, about (MAXLEN ~). */
  channelEventsMaxLen: 1_000,
  /** Write `update` events for state changes (CHANNEL_UPDATE_EVENTS). */
  updateEvents: true,
  /**
   * How long a channel remembers that a session's end was applied (so a JOIN of it arriving later is
   * refused). Far longer than any write waits in a client's queue: edges give up on a Redis they
   * can't reach long before.
   */
  endedKeepMs: 600_000,
  /** Most channel leave calls of one outbox drain call in flight at once. */
  leavesInFlight: 64,
  /** Most sessions one channel-leave call removes (the ends of one drain that share a channel go together). */
  leavesPerCall: 100,
} as const;

export interface ChannelStoreOptions {
  keys: KeySpace;
  channelEventsMaxLen?: number;
  updateEvents?: boolean;
  endedKeepMs?: number;
  leavesInFlight?: number;
}

export type JoinStatus = 'joined' | 'too_many_channels' | 'gone';

export interface ChannelWrite {
  occupancy: ChannelOccupancy;
  /** The event written (join, leave or update), or null when the transition made none. */
  eventId: string | null;
}

export interface ChannelMemberSession {
  sessionId: string;
  node: string;
  joinedAt: number;
  /** Present when asked for (members with `state`): the session's channel state, or null. */
  state?: Record<string, unknown> | null;
}

export interface ChannelMember {
  clientId: string;
  sessions: ChannelMemberSession[];
}

export interface ChannelMembersPage {
  channel: string;
  occupancy: ChannelOccupancy;
  members: ChannelMember[];
  nextCursor: string | null;
}

/** What one drain call did in one shard's outbox. */
export interface ShardDrain {
  shard: number;
  /** Outbox entries applied and deleted. */
  entries: number;
  /** Entries left for later: their session lingers in its grace until then. */
  waiting: number;
  /** More entries were there than `limit`. */
  more: boolean;
  /** The last entry read (the next call's `after`), or null when none was. */
  lastId: string | null;
  /** The earliest `notBefore` of the entries left waiting (ms, Redis time), or null. */
  nextDue: number | null;
}

interface DrainTotals {
  /** Channel leaves applied (sessions out of a channel), and of those the ones that wrote a `leave` event. */
  leaves: number;
  events: number;
  /** Redis time of the call (ms), or 0 when no entry read needed it (none waits for a grace). */
  now: number;
}

/** One shard's drain (`drainOutbox`). */
export type OutboxDrain = ShardDrain & DrainTotals;

/** A drain of several shards at once (`drainOutboxes`): each shard's part, and the leaves of all. */
export type OutboxDrains = DrainTotals & { shards: ShardDrain[] };

interface LeaveArgs {
  sessionId: string;
  clientId: string;
  reason: ChannelLeaveReason;
  /** When it ended (ms, Redis time), or '' for now. */
  at: number | '';
  /** The session's node, or '' for the script to read it from the member record. */
  node: string;
}

interface OutboxEntry {
  id: string;
  sessionId: string;
  clientId: string;
  reason: string;
  at: number;
  /** The node the session was on ('' in an entry without one: the leave reads it from the member). */
  node: string;
  notBefore: number;
  channels: string[];
}

/**
 * Channel presence (docs/data-model.md, "Channels"): per-channel members keyed by the channel's hash
 * tag, the session side of a membership in the session's record, and the outbox that carries session
 * ends across slots. Give it its own Redis connection on an edge, so that a flood of JOINs never
 * queues the session refreshes behind it.
 */
export class ChannelStore {
  readonly keys: KeySpace;
  private readonly redis: Redis | Cluster;
  private readonly scripts: ScriptCommands;
  private readonly maxLen: number;
  private readonly updates: 0 | 1;
  private readonly endedKeepMs: number;
  private readonly leavesInFlight: number;
  private readonly leavesPerCall: number;

  constructor(redis: Redis | Cluster, options: ChannelStoreOptions) {
    this.redis = redis;
    this.keys = options.keys;
    this.scripts = defineScripts(redis);
    this.maxLen = options.channelEventsMaxLen ?? CHANNEL_DEFAULTS.channelEventsMaxLen;
    this.updates = (options.updateEvents ?? CHANNEL_DEFAULTS.updateEvents) ? 1 : 0;
    this.endedKeepMs = options.endedKeepMs ?? CHANNEL_DEFAULTS.endedKeepMs;
    this.leavesInFlight = options.leavesInFlight ?? CHANNEL_DEFAULTS.leavesInFlight;
    this.leavesPerCall = CHANNEL_DEFAULTS.leavesPerCall;
  }

  /**
   * A live session joins `channel` (two script calls: the session's shard, then the channel's).
   * `gone`: the session is not live in Redis (not registered yet, or ended). `rejoin`: its edge
   * registered it again after Redis lost it; a channel left at its (lost) end may be joined again.
   */
  async join(
    session: SessionRef,
    channel: string,
    node: string,
    stateJson: string | null,
    maxChannels: number,
    options: { rejoin?: boolean } = {},
  ): Promise<{ status: JoinStatus } & ChannelWrite> {
    const tracked = trackChannelReply(
      await this.redis[this.scripts.trackChannel]!(this.clientKey(session), session.sessionId, channel, 'join', maxChannels),
    );
    if (tracked.status !== 'ok') return { status: tracked.status, occupancy: await this.occupancy(channel), eventId: null };
    return this.joinChannel(session, channel, node, stateJson, options);
  }

  /**
   * The channel half of `join` alone (after the session's shard listed the channel). Public so that a
   * test can make it reach Redis after the session's end was applied, as a slow write could.
   */
  async joinChannel(
    session: SessionRef,
    channel: string,
    node: string,
    stateJson: string | null,
    options: { rejoin?: boolean } = {},
  ): Promise<{ status: JoinStatus } & ChannelWrite> {
    const c = this.keys.channel(channel);
    const reply = channelWriteReply(
      'channel-join-6',
      ['ok', 'ended'] as const,
      await this.redis[this.scripts.channelJoin]!(
        ...channelScriptKeys(c),
        channel,
        session.sessionId,
        session.clientId,
        node,
        stateJson ?? '',
        this.maxLen,
        this.keys.channelEventsChannel,
        this.updates,
        options.rejoin === true ? 1 : 0,
      ),
    );
    return { status: reply.status === 'ok' ? 'joined' : 'gone', ...occupancyOf(reply) };
  }

  /** A session leaves `channel` (LEAVE): the channel first, then the session's list. */
  async leave(session: SessionRef, channel: string): Promise<{ status: 'left' | 'not_joined' } & ChannelWrite> {
    const reply = await this.applyLeaves(
      channel,
      [{ sessionId: session.sessionId, clientId: session.clientId, reason: 'left', at: '', node: '' }],
      0,
    );
    await this.redis[this.scripts.trackChannel]!(this.clientKey(session), session.sessionId, channel, 'leave', 0).then(trackChannelReply);
    const [left] = reply.left;
    return {
      status: left?.existed === true ? 'left' : 'not_joined',
      occupancy: { clients: reply.clients, sessions: reply.sessions },
      eventId: left?.eventId ?? null,
    };
  }

  /** Replaces a joined session's state in `channel` (SET). */
  async setState(session: SessionRef, channel: string, stateJson: string): Promise<{ status: 'set' | 'not_joined' } & ChannelWrite> {
    const c = this.keys.channel(channel);
    const reply = channelWriteReply(
      'channel-set-4',
      ['ok', 'not_joined'] as const,
      await this.redis[this.scripts.channelSet]!(
        c.clients,
        c.sessions,
        c.seq,
        c.events,
        channel,
        session.sessionId,
        session.clientId,
        stateJson,
        this.maxLen,
        this.keys.channelEventsChannel,
        this.updates,
      ),
    );
    return { status: reply.status === 'ok' ? 'set' : 'not_joined', ...occupancyOf(reply) };
  }

  /** Occupancy of one channel: two O(1) commands. */
  async occupancy(channel: string): Promise<ChannelOccupancy> {
    assertChannel(channel);
    const c = this.keys.channel(channel);
    const [clients, sessions] = await Promise.all([this.redis.zcard(c.clients), this.redis.hlen(c.sessions)]);
    return { clients, sessions };
  }

  /**
   * Occupancy of many channels, in the order given. On a single Redis one pipeline (one write, one
   * read: sending 2000 commands one by one costs ten times more in the client); on a cluster the
   * channels' slots are on several nodes, and each command goes on its own.
   */
  async occupancies(channels: readonly string[]): Promise<ChannelOccupancy[]> {
    for (const channel of channels) assertChannel(channel);
    if (this.redis.isCluster) return Promise.all(channels.map((channel) => this.occupancy(channel)));
    // One script call per OCCUPANCY_CALL channels, each a few hundred µs of Redis time.
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += OCCUPANCY_CALL) {
      const keys = channels.slice(i, i + OCCUPANCY_CALL).flatMap((channel) => {
        const c = this.keys.channel(channel);
        return [c.clients, c.sessions];
      });
      calls.push(this.redis[this.scripts.channelOccupancy]!(keys.length, ...keys));
    }
    return (await Promise.all(calls)).flatMap((reply) => channelOccupancyReply(reply));
  }

  /**
   * A page of members in clientId order. The cursor is opaque to callers (base64url of the last
   * clientId returned); a member present for the whole walk is returned exactly once.
   */
  async members(channel: string, cursor: string | null, limit: number, withState: boolean): Promise<ChannelMembersPage> {
    assertChannel(channel);
    let after = '-';
    if (cursor !== null) {
      const last = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
      if (!isValidClientId(last)) throw new StoreInputError('bad_cursor', 'cursor is not one this API returned');
      after = `(${last}`;
    }
    const c = this.keys.channel(channel);
    const reply = channelMembersReply(await this.redis[this.scripts.channelMembers]!(c.clients, c.sessions, c.index, after, limit));
    const members = reply.members.map(({ clientId, sessions }) => ({ clientId, sessions: memberSessions(sessions, withState) }));
    return {
      channel,
      occupancy: { clients: reply.clients, sessions: reply.sessions },
      members,
      nextCursor: reply.more && reply.lastClientId !== null ? Buffer.from(reply.lastClientId, 'utf8').toString('base64url') : null,
    };
  }

  /**
   * Channels that have members now, whose names start with `prefix`: a SCAN of the key space for
   * their `clients` keys (Redis deletes an empty one), on every primary of a cluster in turn. Unlike
   * membership reads this walks keys, O(keys in Redis) over a whole walk: an operator's listing, not a
   * hot path. A page may hold fewer than `limit` channels while `nextCursor` is not null; a channel
   * may appear twice across pages if Redis rehashes meanwhile (SCAN's guarantee). The cursor is
   * `<node index>.<scan cursor>`.
   */
  async listChannels(prefix: string, cursor: string | null, limit: number): Promise<{ channels: string[]; nextCursor: string | null }> {
    if (prefix !== '' && !isValidChannel(prefix)) throw new StoreInputError('bad_channel', CHANNEL_RULE.replace(/^channel/, 'prefix'));
    const nodes = this.redis.isCluster ? (this.redis as Cluster).nodes('master') : [this.redis as Redis];
    let node = 0;
    let scan = '0';
    if (cursor !== null) {
      const match = /^(\d{1,4})\.(\d{1,20})$/.exec(cursor);
      if (match === null || Number(match[1]) >= nodes.length)
        throw new StoreInputError('bad_cursor', 'cursor is not one this API returned');
      node = Number(match[1]);
      scan = match[2] as string;
    }
    // Channel names hold no glob character (* ? [ ] backslash), so the prefix goes into MATCH as it is.
    const pattern = `${this.keys.prefix}:{c:${prefix}*}:clients`;
    const head = `${this.keys.prefix}:{c:`;
    const channels = new Set<string>();
    // A bounded number of SCAN calls per page, so that a sparse key space can't hold a request long.
    for (let calls = 0; calls < 50 && channels.size < limit; calls += 1) {
      const [next, keys] = await (nodes[node] as Redis).scan(scan, 'MATCH', pattern, 'COUNT', 1_000, 'TYPE', 'zset');
      for (const key of keys) channels.add(key.slice(head.length, key.length - '}:clients'.length));
      scan = next;
      if (scan === '0') {
        node += 1;
        if (node >= nodes.length) return { channels: [...channels].sort(), nextCursor: null };
      }
    }
    return { channels: [...channels].sort(), nextCursor: `${node}.${scan}` };
  }

  /**
   * One client's sessions in a channel, with their channel state, oldest join first (empty when the
   * client is not in the channel): one channel-members call, a page of one member from the client on.
   */
  async memberSessions(channel: string, clientId: string): Promise<ChannelMemberSession[]> {
    assertChannel(channel);
    assertClientId(clientId);
    const c = this.keys.channel(channel);
    // The page starts at the client (inclusive): it holds the next client instead when this one is not a member.
    const reply = channelMembersReply(await this.redis[this.scripts.channelMembers]!(c.clients, c.sessions, c.index, `[${clientId}`, 1));
    const member = reply.members.find((m) => m.clientId === clientId);
    return member === undefined ? [] : memberSessions(member.sessions, true);
  }

  /** The channels a client's sessions are in (where_now), sorted; one command in the client's shard. */
  async channelsOf(clientId: string): Promise<string[]> {
    assertClientId(clientId);
    const records = await this.redis.hvals(this.keys.client(clientId));
    const channels = new Set<string>();
    for (const raw of records) for (const channel of (JSON.parse(raw) as { channels?: string[] }).channels ?? []) channels.add(channel);
    return [...channels].sort();
  }

  /**
   * Applies up to `limit` entries of a shard's channel outbox after entry `after` (exclusive; '-'
   * for the start): every channel of each ended session is left (idempotent, by sessionId), then the
   * entry is deleted. A crash anywhere in between leaves the entry to be applied again, which writes
   * no second event. Entries not due yet are left in place. Why `after`: deleted entries stay in a
   * stream's nodes until a whole node is deleted, and XRANGE from the start walks over them, so a
   * processor reading from the start after every batch would slow down with the backlog it clears.
   */
  async drainOutbox(shard: number, limit: number, after = '-'): Promise<OutboxDrain> {
    const drained = await this.drainOutboxes([{ shard, after }], limit);
    return { ...(drained.shards[0] as ShardDrain), leaves: drained.leaves, events: drained.events, now: drained.now };
  }

  /**
   * `drainOutbox` for several shards at once: the entries of every shard read are applied together,
   * so that the ends of one channel leave it in one call whatever their shard (a dead node's
   * sessions are spread over every shard and share their channels).
   */
  async drainOutboxes(reads: readonly { shard: number; after: string }[], limit: number): Promise<OutboxDrains> {
    const raws = await Promise.all(
      reads.map(({ shard, after }) =>
        this.redis.xrange(this.keys.shard(shard).outbox, after === '-' ? '-' : `(${after}`, '+', 'COUNT', limit + 1),
      ),
    );
    const parsed = raws.map((raw) => raw.slice(0, limit).map(([id, fields]) => outboxEntry(id, fields)));
    // Redis's clock only matters for an entry with a notBefore (a grace): an idle poll costs one XRANGE.
    const deferred = parsed.some((entries) => entries.some((entry) => entry.notBefore !== 0));
    const now = deferred ? timeMs(await this.redis.time()) : 0;
    const result: OutboxDrains = { shards: [], leaves: 0, events: 0, now };
    const dues: { shard: number; ids: string[] }[] = [];
    // The ends that share a channel leave it in one call (a dead node's sessions share many channels).
    const byChannel = new Map<string, LeaveArgs[]>();
    reads.forEach(({ shard }, i) => {
      const entries = parsed[i] as OutboxEntry[];
      const due = entries.filter((entry) => entry.notBefore <= now);
      const waiting = entries.filter((entry) => entry.notBefore > now);
      result.shards.push({
        shard,
        entries: 0,
        waiting: waiting.length,
        more: (raws[i] as unknown[]).length > limit,
        lastId: entries[entries.length - 1]?.id ?? null,
        nextDue: waiting.length === 0 ? null : Math.min(...waiting.map((entry) => entry.notBefore)),
      });
      dues.push({ shard, ids: due.map((entry) => entry.id) });
      for (const entry of due) {
        for (const channel of entry.channels) {
          const list = byChannel.get(channel) ?? [];
          if (list.length === 0) byChannel.set(channel, list);
          list.push({
            sessionId: entry.sessionId,
            clientId: entry.clientId,
            reason: entry.reason as ChannelLeaveReason,
            at: entry.at,
            node: entry.node,
          });
        }
      }
    });
    const calls: [string, LeaveArgs[]][] = [];
    for (const [channel, list] of byChannel) {
      for (let i = 0; i < list.length; i += this.leavesPerCall) calls.push([channel, list.slice(i, i + this.leavesPerCall)]);
    }
    for (let i = 0; i < calls.length; i += this.leavesInFlight) {
      const replies = await Promise.all(
        calls.slice(i, i + this.leavesInFlight).map(([channel, list]) => this.applyLeaves(channel, list, 1)),
      );
      for (const reply of replies) {
        result.leaves += reply.left.length;
        result.events += reply.left.filter((left) => left.eventId !== null).length;
      }
    }
    // Only once every leave is applied: an entry deleted earlier would be lost to a crash.
    await Promise.all(
      dues.map(async ({ shard, ids }, i) => {
        if (ids.length > 0) (result.shards[i] as ShardDrain).entries = await this.redis.xdel(this.keys.shard(shard).outbox, ...ids);
      }),
    );
    return result;
  }

  /** Outbox entries waiting in every shard (for metrics and tests). */
  async outboxLength(): Promise<number> {
    const lengths = await Promise.all(this.keys.allShards().map((keys) => this.redis.xlen(keys.outbox)));
    return lengths.reduce((a, b) => a + b, 0);
  }

  /** Events of a channel after `afterId` (exclusive), oldest first. */
  async readEvents(channel: string, afterId: string, count: number): Promise<{ streamId: string; event: ChannelEvent }[]> {
    const entries = await this.redis.xrange(this.keys.channel(channel).events, `(${afterId}`, '+', 'COUNT', count);
    return entries.map(([streamId, fields]) => ({ streamId, event: channelEventFromStreamFields(channel, streamId, fields) }));
  }

  /** Where a channel's stream ends now ('0-0' when empty). */
  async latestEventId(channel: string): Promise<string> {
    const last = await this.redis.xrevrange(this.keys.channel(channel).events, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  private async applyLeaves(channel: string, leaves: readonly LeaveArgs[], ended: 0 | 1) {
    const c = this.keys.channel(channel);
    const args: (string | number)[] = [];
    for (const leave of leaves) args.push(leave.sessionId, leave.clientId, leave.reason, leave.at, leave.node);
    const reply = await this.redis[this.scripts.channelLeave]!(
      ...channelScriptKeys(c),
      channel,
      this.maxLen,
      this.keys.channelEventsChannel,
      ended,
      this.endedKeepMs,
      ...args,
    );
    return channelLeaveReply(reply, leaves.length);
  }

  private clientKey(session: SessionRef): string {
    return this.keys.shard(session.shard ?? this.keys.shardOf(session.clientId)).clientPrefix + session.clientId;
  }
}

function channelScriptKeys(c: ChannelKeys): ChannelScriptKeys {
  return [c.clients, c.sessions, c.index, c.seq, c.ended, c.events];
}

function occupancyOf(reply: { clients: number; sessions: number; eventId: string | null }): ChannelWrite {
  return { occupancy: { clients: reply.clients, sessions: reply.sessions }, eventId: reply.eventId };
}

function assertChannel(channel: string): void {
  if (!isValidChannel(channel)) throw new StoreInputError('bad_channel', CHANNEL_RULE);
}

function assertClientId(clientId: string): void {
  if (!isValidClientId(clientId)) throw new StoreInputError('bad_client_id', `clientId ${CLIENT_ID_RULE}`);
}

/** A member's sessions (its hash: sessionId -> record JSON), oldest join first. */
function memberSessions(sessions: readonly { sessionId: string; recordJson: string }[], withState: boolean): ChannelMemberSession[] {
  return sessions
    .map(({ sessionId, recordJson }) => {
      const record = JSON.parse(recordJson) as { node: string; joinedAt: number; state?: string };
      const view: ChannelMemberSession = { sessionId, node: record.node, joinedAt: record.joinedAt };
      if (withState) view.state = record.state === undefined ? null : (JSON.parse(record.state) as Record<string, unknown>);
      return view;
    })
    .sort((a, b) => a.joinedAt - b.joinedAt || a.sessionId.localeCompare(b.sessionId));
}

function outboxEntry(id: string, fields: readonly string[]): OutboxEntry {
  const map = streamFieldMap(fields);
  let channels: unknown;
  try {
    channels = JSON.parse(map.get('channels') ?? '[]');
  } catch {
    channels = [];
  }
  return {
    id,
    sessionId: map.get('session') ?? '',
    clientId: map.get('client') ?? '',
    reason: map.get('reason') ?? 'expired',
    at: Number(map.get('at')),
    node: map.get('node') ?? '',
    notBefore: Number(map.get('notBefore') ?? 0),
    // Only names the edge validated were ever listed; anything else is skipped, not applied.
    channels: Array.isArray(channels)
      ? channels.filter((channel): channel is string => typeof channel === 'string' && isValidChannel(channel))
      : [],
  };
}

/** A TIME reply in whole ms. */
function timeMs([seconds, micros]: readonly (number | string)[]): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}
