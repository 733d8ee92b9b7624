import { compareStreamIds, type KeySpace } from '@presence/presence-store';
import type { Cluster, Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';

/** One consumer group of one shard stream, from XINFO GROUPS. */
interface GroupPosition {
  name: string;
  lastDeliveredId: string;
}

/** One shard's stream, from XINFO STREAM, with its groups; null when the stream does not exist yet. */
interface StreamBacklog {
  length: number;
  firstId: string | null;
  lastId: string;
  /** Entries ever added (Redis 7+); null on older servers. */
  entriesAdded: number | null;
  groups: GroupPosition[];
}

interface ShardBacklog {
  /** The shard's earliest session deadline (ms, Redis time), or null when it holds no session. */
  earliestDeadline: number | null;
  stream: StreamBacklog | null;
}

/** Per consumer group, its worst shard. */
export interface GroupBacklog {
  /** Shard streams whose trimming removed entries after the group's last delivered one. */
  overrunShards: number;
  /** Stream time (from entry ids) between the group's last delivered entry and the newest entry, in ms. */
  behindMs: number;
  /**
   * behindMs as a share of the time the shard's stream retains (newest - oldest entry): 1 or more once
   * its position is older than the oldest entry.
   */
  behindRatio: number;
}

export interface Backlog {
  /** How long the most overdue session has been past its deadline, in ms (0: none is). */
  overdueMs: number;
  groups: Map<string, GroupBacklog>;
}

/**
 * Registers the gauges that say whether work in Redis is falling behind, read from Redis at each
 * scrape, so that every API replica reports the same cluster-wide values:
 * - `presence_sessions_overdue_seconds`: sweep lag, measured where the overdue sessions are (the
 *   deadlines sets), so it keeps growing when no sweeper runs at all;
 * - `presence_events_group_overrun_shards{group}` and `presence_events_group_behind_ratio{group}`:
 *   whether stream trimming (MAXLEN) has passed, or is about to pass, a consumer group's position.
 * Cost per scrape: one TIME, and per shard a ZRANGE of one member, XINFO STREAM and XINFO GROUPS,
 * all O(1) or O(groups). While Redis does not answer, the sweep lag is NaN (unknown, not 0) and the
 * per-group gauges have no samples.
 */
export function registerBacklogMetrics(registry: Registry, redis: Redis | Cluster, keys: KeySpace): void {
  const registers = [registry];
  // The gauges are collected together (prom-client collects all metrics at once): one read serves them all.
  let reading: Promise<Backlog | null> | null = null;
  const read = (): Promise<Backlog | null> => {
    reading ??= readBacklog(redis, keys)
      .catch(() => null)
      .finally(() => {
        reading = null;
      });
    return reading;
  };
  new Gauge({
    name: 'presence_sessions_overdue_seconds',
    help: 'How long the most overdue session has been past its deadline without being swept (0: none)',
    registers,
    async collect() {
      const backlog = await read();
      this.set(backlog === null ? NaN : backlog.overdueMs / 1000);
    },
  });
  const perGroup = (name: string, help: string, value: (group: GroupBacklog) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['group'],
      registers,
      async collect() {
        this.reset();
        const backlog = await read();
        for (const [group, values] of backlog?.groups ?? []) this.set({ group }, value(values));
      },
    });
  perGroup(
    'presence_events_group_overrun_shards',
    'Event shard streams whose trimming removed entries the consumer group had not read',
    (group) => group.overrunShards,
  );
  perGroup(
    'presence_events_group_behind_ratio',
    "How far behind the consumer group is, as a share of the time its shard's stream retains " +
      '(worst shard; 1 or more: older than the oldest entry)',
    (group) => group.behindRatio,
  );
  perGroup(
    'presence_events_group_behind_seconds',
    "Stream time between the consumer group's last delivered event and the newest one (worst shard)",
    (group) => group.behindMs / 1000,
  );
}

export async function readBacklog(redis: Redis | Cluster, keys: KeySpace): Promise<Backlog> {
  const [time, shards] = await Promise.all([redis.time(), Promise.all(keys.allShards().map((shard) => readShard(redis, shard)))]);
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  return summarize(now, shards);
}

async function readShard(redis: Redis | Cluster, keys: { deadlines: string; events: string }): Promise<ShardBacklog> {
  const [first, stream, groups] = await Promise.all([
    redis.zrange(keys.deadlines, '0', '0', 'WITHSCORES'),
    redis.xinfo('STREAM', keys.events).catch(noSuchKey),
    redis.xinfo('GROUPS', keys.events).catch(noSuchKey),
  ]);
  const earliestDeadline = first[1] === undefined ? null : Number(first[1]);
  if (stream === null || groups === null) return { earliestDeadline, stream: null };
  const info = fields(stream, 'XINFO STREAM');
  const firstEntry = info.get('first-entry');
  return {
    earliestDeadline,
    stream: {
      length: Number(info.get('length')),
      firstId: Array.isArray(firstEntry) && typeof firstEntry[0] === 'string' ? firstEntry[0] : null,
      lastId: String(info.get('last-generated-id')),
      entriesAdded: info.has('entries-added') ? Number(info.get('entries-added')) : null,
      groups: checkedList(groups, 'XINFO GROUPS').map((group) => {
        const entry = fields(group, 'XINFO GROUPS');
        return { name: String(entry.get('name')), lastDeliveredId: String(entry.get('last-delivered-id')) };
      }),
    },
  };
}

/** The sweep lag and, per consumer group, its worst shard. Pure: the tests feed it replies. */
export function summarize(now: number, shards: readonly ShardBacklog[]): Backlog {
  let earliest = Infinity;
  const groups = new Map<string, GroupBacklog>();
  for (const shard of shards) {
    if (shard.earliestDeadline !== null) earliest = Math.min(earliest, shard.earliestDeadline);
    const stream = shard.stream;
    if (stream === null) continue;
    const newestMs = idMs(stream.lastId);
    const retainedMs = stream.firstId === null ? 0 : newestMs - idMs(stream.firstId);
    // Trimmed at all: without entries-added (Redis < 7) assume so.
    const trimmed = stream.entriesAdded === null || stream.entriesAdded > stream.length;
    for (const group of stream.groups) {
      const beforeFirst = stream.firstId !== null && compareStreamIds(group.lastDeliveredId, stream.firstId) < 0;
      const overrun = trimmed && beforeFirst;
      // A group that never delivered anything (`0-0`) is as far behind as the oldest entry retained.
      const positionMs = group.lastDeliveredId === '0-0' && stream.firstId !== null ? idMs(stream.firstId) : idMs(group.lastDeliveredId);
      const behindMs = compareStreamIds(group.lastDeliveredId, stream.lastId) < 0 ? Math.max(0, newestMs - positionMs) : 0;
      const ratio = beforeFirst ? Math.max(1, behindMs / Math.max(retainedMs, 1)) : behindMs / Math.max(retainedMs, 1);
      const seen = groups.get(group.name) ?? { overrunShards: 0, behindMs: 0, behindRatio: 0 };
      groups.set(group.name, {
        overrunShards: seen.overrunShards + (overrun ? 1 : 0),
        behindMs: Math.max(seen.behindMs, behindMs),
        behindRatio: Math.max(seen.behindRatio, ratio),
      });
    }
  }
  return { overdueMs: earliest === Infinity ? 0 : Math.max(0, now - earliest), groups };
}

function idMs(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash === -1 ? id : id.slice(0, dash));
}

/** A stream that does not exist yet (no event written to its shard) has no backlog. */
function noSuchKey(error: unknown): null {
  if (error instanceof Error && /no such key/i.test(error.message)) return null;
  throw error;
}

function checkedList(reply: unknown, command: string): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`${command}: expected an array, got ${typeof reply}`);
  return reply;
}

/** A RESP2 map reply (`[field, value, field, value, …]`) as a Map. */
function fields(reply: unknown, command: string): Map<string, unknown> {
  const list = checkedList(reply, command);
  if (list.length % 2 !== 0) throw new Error(`${command}: expected field/value pairs, got ${list.length} items`);
  const map = new Map<string, unknown>();
  for (let i = 0; i < list.length; i += 2) map.set(String(list[i]), list[i + 1]);
  return map;
}
