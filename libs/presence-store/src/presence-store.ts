import { CLIENT_ID_RULE, isValidClientId } from '@presence/protocol';
import { eventFromStreamFields, type KeySpace, type OfflineReason, type PresenceEvent, type ShardKeys } from '@presence/wire-format';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { StoreInputError } from './errors.js';
import { EventCursor, type StreamId } from './event-cursor.js';
import { sessionMembersJson } from './members-json.js';
import {
  addSessionReply,
  nodeBeatReply,
  queryReply,
  readClientReply,
  refreshReply,
  removeSessionsReply,
  setStateReply,
  sweepReply,
} from './script-replies.js';
import { defineScripts, type EndingKeys, type ScriptCommands } from './scripts.js';
import type { ClientPresence, NodeView, PresenceStats, QueryResult, SessionRef, SessionView, SweepOptions, SweepResult } from './types.js';

export interface PresenceStoreOptions {
  keys: KeySpace;
  /** Events kept across all shard streams, about (each shard keeps its share). */
  eventsMaxLen: number;
  /** How long an offline client's last-seen time stays queryable. */
  lastSeenTtlMs: number;
  /**
   * The version this process reports in its node heartbeats (nodeBeat, sweeperBeat), shown by the
   * dashboard: 1-64 characters of 0-9 A-Z a-z . + _ -; absent: reported as null.
   */
  nodeVersion?: string;
}

/** What a node version may hold: node-beat-2 writes it into JSON as it is. */
const NODE_VERSION_PATTERN = /^[0-9A-Za-z.+_-]{1,64}$/;

/** A write an edge node batches; see `PresenceStore.execute`. */
export type WriteOp =
  | {
      kind: 'add';
      sessionId: string;
      clientId: string;
      node: string;
      ttlMs: number;
      stateJson: string | null;
      /** Most live sessions per client; 0 for no limit. */
      maxSessions?: number;
    }
  | {
      kind: 'remove';
      sessionId: string;
      clientId: string;
      reason: OfflineReason;
      /** When it ended, in Redis time as the edge estimates it; null for "now". */
      endedAt?: number | null;
      /** Offline grace for `closed`/`shutdown`: the client stays online this long in case it returns. */
      graceMs?: number;
      node?: string;
      /** When Redis registered the session (the add's `now`), if it did. */
      registeredAt?: number | null;
    }
  | { kind: 'state'; sessionId: string; clientId: string; stateJson: string }
  /** Renews the deadlines of these sessions, whatever their shards, to Redis now + ttlMs. */
  | { kind: 'refresh'; sessions: readonly SessionRef[]; ttlMs: number };

export type WriteResult =
  | { ok: true; kind: 'add'; now: number; eventId: string | null; rejected: 'too_many_sessions' | null }
  | { ok: true; kind: 'remove'; now: number; eventId: string | null; existed: boolean }
  | { ok: true; kind: 'state'; stored: boolean }
  /** `now`: Redis time of its latest script call. `missing`: the ids of the sessions Redis does not know. */
  | { ok: true; kind: 'refresh'; now: number; missing: string[] }
  | { ok: false; kind: Exclude<WriteOp['kind'], 'refresh'>; error: Error }
  /** Some shards failed (`error`, the first); `missing` holds what the shards that answered reported. */
  | { ok: false; kind: 'refresh'; error: Error; missing: string[] };

/** One event read back from a shard stream, with its position in that stream. */
export interface StreamedEvent {
  shard: number;
  streamId: StreamId;
  event: PresenceEvent;
}

type RefreshOp = WriteOp & { kind: 'refresh' };
type RemoveOp = WriteOp & { kind: 'remove' };

/** What one shard's pipeline does for an op: all of it, or, for a refresh, the sessions of that shard. */
interface ShardWork {
  shard: number;
  index: number;
  sessions: readonly SessionRef[] | null;
}

/** One script call of a pipeline: the ops it carries (a run of removes shares one), or a slice of a refresh. */
type Call = { ops: number[] } | { refresh: number; sessions: readonly SessionRef[]; start: number; end: number };

/** A refresh's replies gathered over its shards and calls. */
interface RefreshTally {
  now: number;
  missing: string[];
  error: Error | null;
}

/**
 * Most sessions one remove-sessions call ends: a burst of a thousand ends becomes two calls, each
 * holding Redis a few ms (about 10 µs of Redis time per session).
 */
const REMOVES_PER_CALL = 500;

/**
 * Most sessions one refresh call renews: keeps each call short (a few ms of Redis time) and its
 * ZMSCORE and ZADD inside Lua's unpack limit (8000 values).
 */
const REFRESHES_PER_CALL = 1_000;

/**
 * The Redis presence data model (docs/data-model.md). Every transition runs in one Lua script that
 * also writes its event; this class is the only typed door to those scripts.
 */
export class PresenceStore {
  readonly keys: KeySpace;
  private readonly redis: Redis | Cluster;
  private readonly scripts: ScriptCommands;
  private readonly shardMaxLen: number;
  private readonly lastSeenTtlMs: number;
  private readonly nodeVersion: string;

  constructor(redis: Redis | Cluster, options: PresenceStoreOptions) {
    if (options.nodeVersion !== undefined && !NODE_VERSION_PATTERN.test(options.nodeVersion)) {
      throw new RangeError(`nodeVersion must be 1-64 characters of 0-9 A-Z a-z . + _ - (got ${JSON.stringify(options.nodeVersion)})`);
    }
    this.nodeVersion = options.nodeVersion ?? '';
    this.redis = redis;
    this.keys = options.keys;
    this.shardMaxLen = Math.max(1, Math.ceil(options.eventsMaxLen / options.keys.shardCount));
    this.lastSeenTtlMs = options.lastSeenTtlMs;
    this.scripts = defineScripts(redis);
  }

  /**
   * Runs a batch of writes: one pipeline per shard, sent concurrently (a pipeline may only touch one
   * cluster slot). Within a shard the order of `ops` is kept; a run of consecutive removes goes out
   * as one script call (up to REMOVES_PER_CALL sessions) where the run is, so a burst of ends costs
   * a few calls rather than one each. A refresh goes to every shard its sessions are in, in calls of
   * up to REFRESHES_PER_CALL sessions. Each op gets its own result; a failed pipeline fails its ops
   * (a failed call, all the ops it carried) without throwing, so the caller can retry exactly those.
   */
  async execute(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    const work: ShardWork[] = [];
    const tallies = new Map<number, RefreshTally>();
    ops.forEach((op, index) => {
      if (op.kind !== 'refresh') {
        work.push({ shard: this.keys.shardOf(op.clientId), index, sessions: null });
        return;
      }
      tallies.set(index, { now: -Infinity, missing: [], error: null });
      // Refreshing nothing still asks Redis once, so that the result carries Redis's time.
      if (op.sessions.length === 0) work.push({ shard: 0, index, sessions: [] });
      for (const [shard, sessions] of groupByShard(op.sessions, (session) => session.shard ?? this.keys.shardOf(session.clientId))) {
        work.push({ shard, index, sessions });
      }
    });
    const results = new Array<WriteResult>(ops.length);
    await Promise.all(
      [...groupByShard(work, (item) => item.shard)].map(async ([shard, shardWork]) => {
        const pipeline = this.redis.pipeline();
        const calls = this.queueWrites(pipeline, this.keys.shard(shard), ops, shardWork);
        let replies: [Error | null, unknown][] | null;
        try {
          replies = await pipeline.exec();
        } catch (error) {
          replies = null;
          for (const call of calls) this.settle(ops, results, tallies, call, asError(error), null);
          return;
        }
        calls.forEach((call, position) => {
          const reply = replies?.[position];
          if (reply === undefined) this.settle(ops, results, tallies, call, new Error('no reply from Redis'), null);
          else this.settle(ops, results, tallies, call, reply[0], reply[1]);
        });
      }),
    );
    for (const [index, tally] of tallies) {
      results[index] =
        tally.error === null
          ? { ok: true, kind: 'refresh', now: tally.now, missing: tally.missing }
          : { ok: false, kind: 'refresh', error: tally.error, missing: tally.missing };
    }
    return results;
  }

  /** Records one call's outcome: its ops' results, or its part of a refresh. A bad reply fails what it carried. */
  private settle(
    ops: readonly WriteOp[],
    results: WriteResult[],
    tallies: Map<number, RefreshTally>,
    call: Call,
    error: Error | null,
    reply: unknown,
  ): void {
    if ('refresh' in call) {
      const tally = tallies.get(call.refresh) as RefreshTally;
      try {
        if (error !== null) throw error;
        const { now, missing } = refreshReply(reply, call.end - call.start);
        tally.now = Math.max(tally.now, now);
        for (const i of missing) tally.missing.push((call.sessions[call.start + i] as SessionRef).sessionId);
      } catch (failure) {
        tally.error ??= asError(failure);
      }
      return;
    }
    const callOps = call.ops.map((index) => ops[index] as Exclude<WriteOp, RefreshOp>);
    let callResults: WriteResult[];
    try {
      if (error !== null) throw error;
      callResults = toWriteResults(callOps, reply);
    } catch (failure) {
      callResults = callOps.map((op) => ({ ok: false, kind: op.kind, error: asError(failure) }));
    }
    call.ops.forEach((index, i) => (results[index] = callResults[i] as WriteResult));
  }

  /** Queues one shard's ops in order; returns what each pipelined call carries. */
  private queueWrites(pipeline: ChainableCommander, keys: ShardKeys, ops: readonly WriteOp[], work: readonly ShardWork[]): Call[] {
    const calls: Call[] = [];
    let removes: number[] = [];
    const queueRemoves = () => {
      if (removes.length === 0) return;
      this.queueRemoves(
        pipeline,
        keys,
        removes.map((index) => ops[index] as RemoveOp),
      );
      calls.push({ ops: removes });
      removes = [];
    };
    for (const { index, sessions } of work) {
      const op = ops[index] as WriteOp;
      if (op.kind === 'remove') {
        removes.push(index);
        if (removes.length === REMOVES_PER_CALL) queueRemoves();
        continue;
      }
      queueRemoves();
      if (op.kind === 'refresh') {
        const all = sessions ?? [];
        // At least one call, also for no sessions (see execute).
        for (let start = 0; start === 0 || start < all.length; start += REFRESHES_PER_CALL) {
          const end = Math.min(all.length, start + REFRESHES_PER_CALL);
          pipeline[this.scripts.refresh]!(keys.deadlines, op.ttlMs, sessionMembersJson(all, start, end));
          calls.push({ refresh: index, sessions: all, start, end });
        }
        continue;
      }
      this.queueWrite(pipeline, keys, op);
      calls.push({ ops: [index] });
    }
    queueRemoves();
    return calls;
  }

  private queueRemoves(pipeline: ChainableCommander, keys: ShardKeys, removes: readonly RemoveOp[]): void {
    const args: (string | number)[] = [];
    for (const op of removes) {
      args.push(op.sessionId, op.clientId, op.reason, op.endedAt ?? '', op.graceMs ?? 0, op.node ?? '', op.registeredAt ?? '');
    }
    pipeline[this.scripts.removeSessions]!(
      ...endingKeys(keys),
      keys.clientPrefix,
      this.shardMaxLen,
      this.keys.eventsChannel,
      keys.shard,
      keys.outbox,
      ...args,
    );
  }

  private queueWrite(pipeline: ChainableCommander, keys: ShardKeys, op: WriteOp & { kind: 'add' | 'state' }): void {
    const client = keys.clientPrefix + op.clientId;
    if (op.kind === 'state') {
      pipeline[this.scripts.setState]!(client, keys.meta, op.sessionId, op.stateJson);
      return;
    }
    pipeline[this.scripts.addSession]!(
      keys.deadlines,
      client,
      keys.meta,
      keys.online,
      keys.since,
      keys.lastseen,
      keys.events,
      op.sessionId,
      op.clientId,
      op.node,
      op.ttlMs,
      op.stateJson ?? '',
      this.shardMaxLen,
      this.keys.eventsChannel,
      keys.shard,
      op.maxSessions ?? 0,
      keys.outbox,
    );
  }

  /** Convenience for one write; throws its error. */
  async write(op: WriteOp): Promise<WriteResult & { ok: true }> {
    const [result] = await this.execute([op]);
    if (result === undefined || !result.ok) throw result?.error ?? new Error('no result');
    return result;
  }

  /**
   * Removes up to `limit` expired sessions of one shard, writing their offline events, and reports
   * the shard's earliest remaining deadline. Last-seen times older than the last-seen TTL are
   * forgotten too unless `trimLastSeen` is false (they need it far less often than sessions do).
   */
  async sweepShard(shard: number, limit: number, options: SweepOptions = {}): Promise<SweepResult> {
    const { trimLastSeen = true, notAfter = null } = options;
    const keys = this.keys.shard(shard);
    const reply = await this.redis[this.scripts.sweep]!(
      ...endingKeys(keys),
      keys.clientPrefix,
      limit,
      this.shardMaxLen,
      this.keys.eventsChannel,
      shard,
      trimLastSeen ? this.lastSeenTtlMs : 0,
      notAfter === null ? '' : Math.floor(notAfter),
      keys.outbox,
    );
    return sweepReply(reply);
  }

  async getClient(clientId: string): Promise<ClientPresence> {
    assertClientId(clientId);
    const keys = this.keys.shard(this.keys.shardOf(clientId));
    const reply = readClientReply(
      await this.redis[this.scripts.readClient]!(
        keys.clientPrefix + clientId,
        keys.meta,
        keys.deadlines,
        keys.since,
        keys.lastseen,
        clientId,
      ),
    );
    const sessions: SessionView[] = reply.sessions.map(({ sessionId, record: recordJson, deadline, stateJson }) => {
      const record = JSON.parse(recordJson) as { node: string; connectedAt: number; ttl: number; endedAt?: number };
      // A lingering session (in its offline grace) was last seen when it ended.
      const refreshedAt = deadline === null ? record.connectedAt : Math.max(record.connectedAt, deadline - record.ttl);
      return {
        sessionId,
        node: record.node,
        connectedAt: record.connectedAt,
        lastSeenAt: record.endedAt ?? refreshedAt,
        meta: stateJson === null ? null : (JSON.parse(stateJson) as Record<string, unknown>),
        endedAt: record.endedAt ?? null,
      };
    });
    sessions.sort((a, b) => a.connectedAt - b.connectedAt || a.sessionId.localeCompare(b.sessionId));
    const online = sessions.length > 0;
    return {
      clientId,
      online,
      onlineSince: online ? reply.onlineSince : null,
      sessions,
      lastSeenAt: online ? reply.now : reply.lastSeenAt,
    };
  }

  /** Presence of many clients (in the order given), one script call per shard involved. */
  async query(clientIds: readonly string[]): Promise<QueryResult[]> {
    for (const clientId of clientIds) assertClientId(clientId);
    const results = new Array<QueryResult>(clientIds.length);
    const indexes = clientIds.map((_clientId, index) => index);
    await Promise.all(
      [...groupByShard(indexes, (index) => this.keys.shardOf(clientIds[index] as string))].map(async ([shard, shardIndexes]) => {
        const keys = this.keys.shard(shard);
        const ids = shardIndexes.map((index) => clientIds[index] as string);
        const reply = queryReply(await this.redis[this.scripts.query]!(keys.online, keys.lastseen, ...ids), ids.length);
        shardIndexes.forEach((index, position) => {
          const online = reply.online[position] as boolean;
          results[index] = {
            clientId: ids[position] as string,
            online,
            lastSeenAt: online ? reply.now : (reply.lastSeenAt[position] ?? null),
          };
        });
      }),
    );
    return results;
  }

  /**
   * Online client ids, ordered by shard and then by id. The cursor is opaque to callers:
   * `<shard>.<base64url of the last id returned>`.
   */
  async listOnline(cursor: string | null, limit: number): Promise<{ clients: string[]; nextCursor: string | null }> {
    let shard = 0;
    let after = '-';
    if (cursor !== null) {
      const match = /^(\d{1,4})\.([A-Za-z0-9_-]*)$/.exec(cursor);
      const parsedShard = match === null ? NaN : Number(match[1]);
      const lastId = match === null ? '' : Buffer.from(match[2] ?? '', 'base64url').toString('utf8');
      if (!(parsedShard < this.keys.shardCount) || !isValidClientId(lastId)) {
        throw new StoreInputError('bad_cursor', 'cursor is not one this API returned');
      }
      shard = parsedShard;
      after = `(${lastId}`;
    }
    const clients: string[] = [];
    while (shard < this.keys.shardCount && clients.length < limit) {
      const want = limit - clients.length;
      const page = await this.redis.zrangebylex(this.keys.shard(shard).online, after, '+', 'LIMIT', 0, want);
      clients.push(...page);
      if (page.length === want) break;
      shard += 1;
      after = '-';
    }
    if (clients.length < limit || shard >= this.keys.shardCount) return { clients, nextCursor: null };
    const last = clients[clients.length - 1] as string;
    return { clients, nextCursor: `${shard}.${Buffer.from(last, 'utf8').toString('base64url')}` };
  }

  async stats(): Promise<PresenceStats> {
    const shards = this.keys.allShards();
    const [onlineCounts, sessionCounts, nodes] = await Promise.all([
      Promise.all(shards.map((keys) => this.redis.zcard(keys.online))),
      Promise.all(shards.map((keys) => this.redis.zcard(keys.deadlines))),
      this.nodes(),
    ]);
    return {
      onlineClients: onlineCounts.reduce((a, b) => a + b, 0),
      sessions: sessionCounts.reduce((a, b) => a + b, 0),
      nodes,
    };
  }

  /** The edge nodes' heartbeats (stats). */
  async nodes(): Promise<NodeView[]> {
    return this.readBeats(this.keys.nodeDeadlines, this.keys.nodeInfo);
  }

  /** The sweepers' heartbeats (the dashboard); their `sessions` is always 0. */
  async sweepers(): Promise<NodeView[]> {
    return this.readBeats(this.keys.sweeperDeadlines, this.keys.sweeperInfo);
  }

  private async readBeats(deadlinesKey: string, infoKey: string): Promise<NodeView[]> {
    const [deadlines, info, time] = await Promise.all([
      this.redis.zrange(deadlinesKey, '0', '-1', 'WITHSCORES'),
      this.redis.hgetall(infoKey),
      this.redis.time(),
    ]);
    const now = timeMs(time);
    const nodes: NodeView[] = [];
    for (let i = 0; i + 1 < deadlines.length; i += 2) {
      const node = deadlines[i] as string;
      const raw = info[node];
      if (raw === undefined) continue;
      const parsed = JSON.parse(raw) as { sessions: number; startedAt: number; lastSeenAt: number; version?: string | null };
      // Records written before versions were reported have none.
      nodes.push({ node, ...parsed, version: parsed.version ?? null, alive: Number(deadlines[i + 1]) > now });
    }
    return nodes.sort((a, b) => a.node.localeCompare(b.node));
  }

  /** An edge node's own liveness and session count, for stats. */
  async nodeBeat(node: string, ttlMs: number, sessions: number, startedAt: number, keepDeadMs: number): Promise<void> {
    nodeBeatReply(
      await this.redis[this.scripts.nodeBeat]!(
        this.keys.nodeDeadlines,
        this.keys.nodeInfo,
        node,
        ttlMs,
        sessions,
        keepDeadMs,
        startedAt,
        this.nodeVersion,
      ),
    );
  }

  async removeNode(node: string): Promise<void> {
    await Promise.all([this.redis.zrem(this.keys.nodeDeadlines, node), this.redis.hdel(this.keys.nodeInfo, node)]);
  }

  /** A sweeper's liveness, for the dashboard: the edges' heartbeat under the sweepers' keys. */
  async sweeperBeat(node: string, ttlMs: number, startedAt: number, keepDeadMs: number): Promise<void> {
    nodeBeatReply(
      await this.redis[this.scripts.nodeBeat]!(
        this.keys.sweeperDeadlines,
        this.keys.sweeperInfo,
        node,
        ttlMs,
        0,
        keepDeadMs,
        startedAt,
        this.nodeVersion,
      ),
    );
  }

  async removeSweeper(node: string): Promise<void> {
    await Promise.all([this.redis.zrem(this.keys.sweeperDeadlines, node), this.redis.hdel(this.keys.sweeperInfo, node)]);
  }

  /** Where every shard stream ends now: a cursor that receives only events written after this call. */
  async latestCursor(): Promise<EventCursor> {
    const shards = this.keys.allShards();
    const lasts = await Promise.all(shards.map((keys) => this.redis.xrevrange(keys.events, '+', '-', 'COUNT', 1)));
    return new EventCursor(lasts.map((entries) => entries[0]?.[0] ?? '0-0'));
  }

  /** Events of one shard after `afterId` (exclusive), oldest first. */
  async readEvents(shard: number, afterId: StreamId, count: number): Promise<StreamedEvent[]> {
    const entries = await this.redis.xrange(this.keys.shard(shard).events, `(${afterId}`, '+', 'COUNT', count);
    return entries.map(([streamId, fields]) => ({ shard, streamId, event: eventFromStreamFields(shard, streamId, fields) }));
  }

  /** The oldest event id each shard stream still holds (null for an empty stream), to detect gaps. */
  async firstEventId(shard: number): Promise<StreamId | null> {
    const entries = await this.redis.xrange(this.keys.shard(shard).events, '-', '+', 'COUNT', 1);
    return entries[0]?.[0] ?? null;
  }

  /** Redis server time in ms. */
  async now(): Promise<number> {
    return timeMs(await this.redis.time());
  }
}

function assertClientId(clientId: string): void {
  if (!isValidClientId(clientId)) {
    throw new StoreInputError('bad_client_id', `clientId ${CLIENT_ID_RULE}`);
  }
}

/** The keys of a shard that remove-sessions-6 and sweep-6 touch, in their KEYS order. */
function endingKeys(keys: ShardKeys): EndingKeys {
  return [keys.deadlines, keys.meta, keys.online, keys.since, keys.lastseen, keys.events];
}

/** A TIME reply in whole ms, as the scripts' now_ms() computes it. */
function timeMs([seconds, micros]: readonly (number | string)[]): number {
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Items by the shard `shardOf` puts them in, in their order: what each per-shard call carries. */
function groupByShard<T>(items: Iterable<T>, shardOf: (item: T) => number): Map<number, T[]> {
  const byShard = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardOf(item);
    const list = byShard.get(shard);
    if (list === undefined) byShard.set(shard, [item]);
    else list.push(item);
  }
  return byShard;
}

/** The results of one script call's ops: a run of removes shares one reply, an add or a state write has its own. */
function toWriteResults(ops: readonly Exclude<WriteOp, RefreshOp>[], reply: unknown): WriteResult[] {
  const first = ops[0];
  if (first === undefined) return [];
  switch (first.kind) {
    case 'add':
      return [{ ok: true, kind: 'add', ...addSessionReply(reply) }];
    case 'state':
      return [{ ok: true, kind: 'state', stored: setStateReply(reply) }];
    case 'remove': {
      const { now, ended } = removeSessionsReply(reply, ops.length);
      return ended.map(({ eventId, existed }) => ({ ok: true, kind: 'remove', now, eventId, existed }));
    }
  }
}
