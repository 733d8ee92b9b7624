import { isValidClientId } from '@presence/protocol';
import type { Cluster, Redis } from 'ioredis';
import { StoreInputError } from './errors.js';
import { EventCursor, type StreamId } from './event-cursor.js';
import { jsonArrayBuffer } from './json-buffer.js';
import { KeySpace, sessionMember, type ShardKeys } from './keys.js';
import { callScript, defineScripts, type ScriptTarget } from './scripts.js';
import type {
  ClientPresence,
  EventType,
  NodeView,
  OfflineReason,
  PresenceEvent,
  PresenceStats,
  QueryResult,
  SessionView,
  SweepOptions,
  SweepResult,
} from './types.js';

export interface PresenceStoreOptions {
  keys: KeySpace;
  /** Events kept across all shard streams, about (each shard keeps its share). */
  eventsMaxLen: number;
  /** How long an offline client's last-seen time stays queryable. */
  lastSeenTtlMs: number;
}

/** A write an edge node batches; see `PresenceStore.execute`. */
export type WriteOp =
  | {
      kind: 'add'; sessionId: string; clientId: string; node: string; ttlMs: number; stateJson: string | null;
      /** Most live sessions per client; 0 for no limit. */
      maxSessions?: number;
    }
  | {
      kind: 'remove'; sessionId: string; clientId: string; reason: OfflineReason;
      /** When it ended, in Redis time as the edge estimates it; null for "now". */
      endedAt?: number | null;
      /** Offline grace for `closed`/`shutdown`: the client stays online this long in case it returns. */
      graceMs?: number;
      node?: string;
      /** When Redis registered the session (the add's `now`), if it did. */
      registeredAt?: number | null;
    }
  | { kind: 'state'; sessionId: string; clientId: string; stateJson: string }
  | { kind: 'refresh'; shard: number; members: string[]; ttlMs: number };

export type WriteResult =
  | { ok: true; kind: 'add'; now: number; eventId: string | null; rejected: 'too_many_sessions' | null }
  | { ok: true; kind: 'remove'; now: number; eventId: string | null; existed: boolean }
  | { ok: true; kind: 'state'; stored: boolean }
  | { ok: true; kind: 'refresh'; now: number; missing: string[] }
  | { ok: false; kind: WriteOp['kind']; error: Error };

/** One event read back from a shard stream, with its position in that stream. */
export interface StreamedEvent {
  shard: number;
  streamId: StreamId;
  event: PresenceEvent;
}

type Pipeline = ReturnType<Redis['pipeline']>;

/**
 * Most sessions one remove-sessions call ends: a burst of a thousand ends becomes two calls, each
 * holding Redis a few ms (about 10 µs of Redis time per session).
 */
const REMOVES_PER_CALL = 500;

/**
 * The Redis presence data model (docs/data-model.md). Every transition runs in one Lua script that
 * also writes its event; this class is the only typed door to those scripts.
 */
export class PresenceStore {
  readonly keys: KeySpace;
  private readonly redis: Redis | Cluster;
  private readonly shardMaxLen: number;
  private readonly lastSeenTtlMs: number;

  constructor(redis: Redis | Cluster, options: PresenceStoreOptions) {
    this.redis = redis;
    this.keys = options.keys;
    this.shardMaxLen = Math.max(1, Math.ceil(options.eventsMaxLen / options.keys.shardCount));
    this.lastSeenTtlMs = options.lastSeenTtlMs;
    defineScripts(redis);
  }

  /**
   * Runs a batch of writes: one pipeline per shard, sent concurrently (a pipeline may only touch one
   * cluster slot). Within a shard the order of `ops` is kept; a run of consecutive removes goes out
   * as one script call (up to REMOVES_PER_CALL sessions) where the run is, so a burst of ends costs
   * a few calls rather than one each. Each op gets its own result; a failed pipeline fails its ops
   * (a failed call, all the ops it carried) without throwing, so the caller can retry exactly those.
   */
  async execute(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    const byShard = new Map<number, number[]>();
    ops.forEach((op, index) => {
      const shard = op.kind === 'refresh' ? op.shard : this.keys.shardOf(op.clientId);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [index]);
      else list.push(index);
    });
    const results: WriteResult[] = new Array(ops.length);
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const pipeline = this.redis.pipeline() as Pipeline;
        const calls = this.queueWrites(pipeline, this.keys.shard(shard), ops, indexes);
        let replies: [Error | null, unknown][] | null;
        try {
          replies = await pipeline.exec();
        } catch (error) {
          replies = null;
          for (const index of indexes) results[index] = failed(ops[index] as WriteOp, error);
          return;
        }
        calls.forEach((call, position) => {
          const callOps = call.map((index) => ops[index] as WriteOp);
          const reply = replies?.[position];
          const callResults =
            reply === undefined ? callOps.map((op) => failed(op, new Error('no reply from Redis')))
            : reply[0] !== null ? callOps.map((op) => failed(op, reply[0]))
            : toWriteResults(callOps, reply[1]);
          call.forEach((index, i) => (results[index] = callResults[i] as WriteResult));
        });
      }),
    );
    return results;
  }

  /** Queues one shard's ops in order; returns, per pipelined call, the indexes of the ops it carries. */
  private queueWrites(pipeline: Pipeline, keys: ShardKeys, ops: readonly WriteOp[], indexes: readonly number[]): number[][] {
    const calls: number[][] = [];
    let removes: number[] = [];
    const queueRemoves = () => {
      if (removes.length === 0) return;
      this.queueRemoves(pipeline, keys, removes.map((index) => ops[index] as WriteOp & { kind: 'remove' }));
      calls.push(removes);
      removes = [];
    };
    for (const index of indexes) {
      const op = ops[index] as WriteOp;
      if (op.kind === 'remove') {
        removes.push(index);
        if (removes.length === REMOVES_PER_CALL) queueRemoves();
        continue;
      }
      queueRemoves();
      this.queueWrite(pipeline, keys, op);
      calls.push([index]);
    }
    queueRemoves();
    return calls;
  }

  private queueRemoves(pipeline: Pipeline, keys: ShardKeys, removes: readonly (WriteOp & { kind: 'remove' })[]): void {
    const args: (string | number)[] = [keys.clientPrefix, this.shardMaxLen, this.keys.eventsChannel, keys.shard];
    for (const op of removes) {
      args.push(op.sessionId, op.clientId, op.reason, op.endedAt ?? '', op.graceMs ?? 0, op.node ?? '', op.registeredAt ?? '');
    }
    void callScript(pipeline as unknown as ScriptTarget, 'remove-sessions-6',
      [keys.deadlines, keys.meta, keys.online, keys.since, keys.lastseen, keys.events], args);
  }

  private queueWrite(pipeline: Pipeline, keys: ShardKeys, op: Exclude<WriteOp, { kind: 'remove' }>): void {
    const target = pipeline as unknown as ScriptTarget;
    const shard = String(keys.shard);
    switch (op.kind) {
      case 'add':
        void callScript(target, 'add-session-7', this.transitionKeys(keys, op.clientId), [
          op.sessionId, op.clientId, op.node, op.ttlMs, op.stateJson ?? '', this.shardMaxLen,
          this.keys.eventsChannel, shard, op.maxSessions ?? 0,
        ]);
        return;
      case 'state':
        void callScript(target, 'set-state-2', [keys.clientPrefix + op.clientId, keys.meta], [
          op.sessionId, op.stateJson,
        ]);
        return;
      case 'refresh':
        void callScript(target, 'refresh-1', [keys.deadlines], [op.ttlMs, jsonArrayBuffer(op.members)]);
        return;
    }
  }

  private transitionKeys(keys: ShardKeys, clientId: string): string[] {
    return [keys.deadlines, keys.clientPrefix + clientId, keys.meta, keys.online, keys.since, keys.lastseen, keys.events];
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
    const reply = (await callScript(
      this.redis,
      'sweep-6',
      [keys.deadlines, keys.meta, keys.online, keys.since, keys.lastseen, keys.events],
      [
        keys.clientPrefix, limit, this.shardMaxLen, this.keys.eventsChannel, shard, trimLastSeen ? this.lastSeenTtlMs : 0,
        notAfter === null ? '' : Math.floor(notAfter),
      ],
    )) as number[];
    const nextDeadline = Number(reply[4]);
    return {
      removed: Number(reply[1]), offline: Number(reply[2]), more: reply[3] === 1,
      now: Number(reply[0]), nextDeadline: nextDeadline < 0 ? null : nextDeadline, late: reply[5] === 1,
    };
  }

  async getClient(clientId: string): Promise<ClientPresence> {
    assertClientId(clientId);
    const keys = this.keys.shard(this.keys.shardOf(clientId));
    const reply = (await callScript(
      this.redis,
      'read-client-5',
      [keys.clientPrefix + clientId, keys.meta, keys.deadlines, keys.since, keys.lastseen],
      [clientId],
    )) as (string | number | null)[];
    const now = Number(reply[0]);
    const sessions: SessionView[] = [];
    for (let i = 3; i + 3 < reply.length; i += 4) {
      const sessionId = String(reply[i]);
      const record = JSON.parse(String(reply[i + 1])) as { node: string; connectedAt: number; ttl: number; endedAt?: number };
      const deadline = reply[i + 2] === null ? null : Number(reply[i + 2]);
      const meta = reply[i + 3] === null ? null : (JSON.parse(String(reply[i + 3])) as Record<string, unknown>);
      // A lingering session (in its offline grace) was last seen when it ended.
      const refreshedAt = deadline === null ? record.connectedAt : Math.max(record.connectedAt, deadline - record.ttl);
      sessions.push({
        sessionId,
        node: record.node,
        connectedAt: record.connectedAt,
        lastSeenAt: record.endedAt ?? refreshedAt,
        meta,
        endedAt: record.endedAt ?? null,
      });
    }
    sessions.sort((a, b) => a.connectedAt - b.connectedAt || a.sessionId.localeCompare(b.sessionId));
    const online = sessions.length > 0;
    return {
      clientId,
      online,
      onlineSince: online && reply[1] !== null ? Number(reply[1]) : null,
      sessions,
      lastSeenAt: online ? now : reply[2] === null ? null : Number(reply[2]),
    };
  }

  /** Presence of many clients (in the order given), one script call per shard involved. */
  async query(clientIds: readonly string[]): Promise<QueryResult[]> {
    for (const clientId of clientIds) assertClientId(clientId);
    const byShard = new Map<number, number[]>();
    clientIds.forEach((clientId, index) => {
      const shard = this.keys.shardOf(clientId);
      const list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, [index]);
      else list.push(index);
    });
    const results: QueryResult[] = new Array(clientIds.length);
    await Promise.all(
      [...byShard].map(async ([shard, indexes]) => {
        const keys = this.keys.shard(shard);
        const ids = indexes.map((index) => clientIds[index] as string);
        const reply = (await callScript(this.redis, 'query-2', [keys.online, keys.lastseen], ids)) as (
          | number
          | string
          | null
        )[];
        const now = Number(reply[0]);
        indexes.forEach((index, position) => {
          const online = reply[1 + position] === 1;
          const seen = reply[1 + ids.length + position];
          results[index] = {
            clientId: ids[position] as string,
            online,
            lastSeenAt: online ? now : seen === null || seen === undefined ? null : Number(seen),
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

  async nodes(): Promise<NodeView[]> {
    const [deadlines, info, time] = await Promise.all([
      this.redis.zrange(this.keys.nodeDeadlines, '0', '-1', 'WITHSCORES'),
      this.redis.hgetall(this.keys.nodeInfo),
      this.redis.time(),
    ]);
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const nodes: NodeView[] = [];
    for (let i = 0; i + 1 < deadlines.length; i += 2) {
      const node = deadlines[i] as string;
      const raw = info[node];
      if (raw === undefined) continue;
      const parsed = JSON.parse(raw) as { sessions: number; startedAt: number; lastSeenAt: number };
      nodes.push({ node, ...parsed, alive: Number(deadlines[i + 1]) > now });
    }
    return nodes.sort((a, b) => a.node.localeCompare(b.node));
  }

  /** An edge node's own liveness and session count, for stats. */
  async nodeBeat(node: string, ttlMs: number, sessions: number, startedAt: number, keepDeadMs: number): Promise<void> {
    await callScript(this.redis, 'node-beat-2', [this.keys.nodeDeadlines, this.keys.nodeInfo], [
      node, ttlMs, sessions, keepDeadMs, startedAt,
    ]);
  }

  async removeNode(node: string): Promise<void> {
    await Promise.all([this.redis.zrem(this.keys.nodeDeadlines, node), this.redis.hdel(this.keys.nodeInfo, node)]);
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
    return entries.map(([streamId, fields]) => ({ shard, streamId, event: eventFromFields(shard, streamId, fields) }));
  }

  /** The oldest event id each shard stream still holds (null for an empty stream), to detect gaps. */
  async firstEventId(shard: number): Promise<StreamId | null> {
    const entries = await this.redis.xrange(this.keys.shard(shard).events, '-', '+', 'COUNT', 1);
    return entries[0]?.[0] ?? null;
  }

  /** Redis server time in ms. */
  async now(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
}

function assertClientId(clientId: string): void {
  if (!isValidClientId(clientId)) {
    throw new StoreInputError('bad_client_id', 'clientId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
  }
}

function failed(op: WriteOp, error: unknown): WriteResult {
  return { ok: false, kind: op.kind, error: error instanceof Error ? error : new Error(String(error)) };
}

/** The results of one script call's ops: a run of removes shares one reply, any other op has its own. */
function toWriteResults(ops: readonly WriteOp[], reply: unknown): WriteResult[] {
  const first = ops[0];
  if (first?.kind !== 'remove') return first === undefined ? [] : [toWriteResult(first, reply)];
  // { now, then per session: event id or null, 1 if it existed }
  const values = reply as (number | string | null)[];
  const now = Number(values[0]);
  return ops.map((_op, i) => {
    const eventId = values[1 + 2 * i];
    return { ok: true, kind: 'remove', now, eventId: eventId === null || eventId === undefined ? null : String(eventId), existed: values[2 + 2 * i] === 1 };
  });
}

function toWriteResult(op: Exclude<WriteOp, { kind: 'remove' }>, reply: unknown): WriteResult {
  switch (op.kind) {
    case 'add': {
      const [now, eventId, rejected] = reply as [number, string | null, string | null];
      return {
        ok: true, kind: 'add', now: Number(now), eventId: eventId ?? null,
        rejected: rejected === 'too_many_sessions' ? rejected : null,
      };
    }
    case 'state':
      return { ok: true, kind: 'state', stored: reply === 1 };
    case 'refresh': {
      const [now, ...missing] = reply as number[];
      return { ok: true, kind: 'refresh', now: Number(now), missing: missing.map((i) => op.members[i - 1] as string) };
    }
  }
}

function eventFromFields(shard: number, streamId: string, fields: string[]): PresenceEvent {
  const map: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i] as string] = fields[i + 1] as string;
  return {
    id: `${shard}-${streamId}`,
    type: map.type as EventType,
    clientId: map.clientId ?? '',
    sessionId: map.sessionId ?? '',
    node: map.node ?? '',
    reason: (map.reason as OfflineReason | undefined) ?? null,
    at: Number(map.at),
  };
}

export { sessionMember };
