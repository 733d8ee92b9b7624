import { EventCursor, compareStreamIds } from '@presence/presence-store';
import {
  WEBHOOK_CONSUMER_GROUP,
  streamFieldMap,
  webhookLaneKeys,
  type KeySpace,
  type WebhookLaneKeys,
  type WebhookSourceKeys,
} from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';
import { decodeEndpoint, encodeEndpoint, takesPresenceEvents, type WebhookEndpoint } from './endpoint.js';
import { WebhookInputError } from './errors.js';
import { defineWebhookScripts, type WebhookScripts } from './scripts.js';

export interface WebhookStoreOptions {
  keys: KeySpace;
}

/** One event queued for an endpoint, as read for a delivery. */
export interface QueuedEvent {
  /** Index of its lane in `lanes(endpoint)`. */
  lane: number;
  /** Its entry id in the lane queue; the ms part is when it was queued (Redis time). */
  entryId: string;
  /** The event's JSON, as delivered. */
  json: string;
  /** The event's id as Presence-Event-Ids lists it (outgoingEvent), and its time. */
  id: string;
  at: number;
}

/** Per lane, the last entry a batch took (null: none): where the next batch starts. */
export type BatchPosition = readonly (string | null)[];

/** A batch of queued events, and where the next one starts. */
export interface Batch {
  events: QueuedEvent[];
  after: BatchPosition;
}

/** An event as the fan-out queues it: its id and time beside its JSON, so delivery never parses the JSON. */
export interface OutgoingEvent {
  id: string;
  at: number;
  json: string;
}

/** An event given up on, as the admin API lists it. */
export interface DeadLetter {
  /** `<source>-<entry id>` (e.g. `s3-1767225600000-0`, `c:room:1-1767225600000-0`): names it for a replay. */
  id: string;
  /** The event, as it would have been delivered. */
  event: unknown;
  /** When it was queued for the endpoint, and when it was given up on (ms, Redis time). */
  queuedAt: number;
  failedAt: number;
  /** Delivery attempts made, and what the last one got. */
  attempts: number;
  error: string;
}

export interface LaneStats {
  /** Events queued for delivery. */
  queued: number;
  /** Dead letters held. */
  dead: number;
  /** When the oldest queued event was queued (ms, Redis time), or null when none is. */
  oldestQueuedAt: number | null;
}

export type FanOutResult =
  /** Written; `activated` are the endpoints whose lane was empty before (they need a delivery job). */
  | { kind: 'done'; activated: string[] }
  /** The cursor was not `from` (another fan-out got there first): read again from `cursor`. */
  | { kind: 'moved'; cursor: string }
  /** The endpoints changed since the caller's list was read: read them again. */
  | { kind: 'stale' };

/** What the webhooks channel carries (encoded here only). */
export type WebhookNotice = { kind: 'changed' } | { kind: 'queued'; endpoint: string };

/** Most entries one expire-2 or replay-2 call moves: bounds how long one call holds Redis. */
const MOVES_PER_CALL = 500;

/**
 * Longest Presence-Event-Ids header a batch may need, in bytes: a batch ends before it. Servers
 * allow a header line 8 KiB; 250 presence event ids take about 5 KiB, but a channel event's id
 * carries its channel's name (up to 200 characters), so long names make a batch smaller.
 */
export const MAX_EVENT_IDS_BYTES = 6_144;

/** A dead letter's id: `<source>-<entry id>` (a source's name may hold `-`; an entry id holds one). */
const DEAD_LETTER_ID = /^(.+)-(\d{1,20}-\d{1,20})$/;

const msOf = (streamId: string): number => Number(streamId.slice(0, streamId.indexOf('-')));

/**
 * Webhooks in Redis (docs/webhooks.md, "Redis keys"): the endpoint registry, each endpoint's lanes
 * (one per source it reads: events queued for delivery, and dead letters), the fan-out cursors, the
 * current delivery job of each endpoint and the fan-out lease. The only code that writes them; the
 * multi-key steps are the scripts in lua/.
 *
 * The sources are the shard streams (online/offline events) and the stream of every channel an
 * endpoint names (its join/leave/update events). An endpoint's lanes are in the sources it reads
 * (`sourcesOf`): the shards' if it takes online or offline, and its channels'. An endpoint's record
 * does not change what it reads (replaceEndpoint refuses that), so its lanes are fixed from its
 * registration to its deletion, and a lane's index in `lanes(endpoint)` names it in batches.
 */
export class WebhookStore {
  readonly keys: KeySpace;
  /** The shard streams' sources, in shard order: read whichever endpoints exist. */
  readonly shardSources: readonly WebhookSourceKeys[];
  private readonly redis: Redis | Cluster;
  private readonly scripts: WebhookScripts;

  constructor(redis: Redis | Cluster, options: WebhookStoreOptions) {
    this.redis = redis;
    this.keys = options.keys;
    this.shardSources = options.keys.webhookSources();
    this.scripts = defineWebhookScripts(redis);
  }

  /** Redis time, ms. */
  async now(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  // ---- sources ----

  /** The sources an endpoint reads, in the order of its lanes: the shards' (if it takes online/offline), then its channels'. */
  sourcesOf(endpoint: Pick<WebhookEndpoint, 'events' | 'filter'>): WebhookSourceKeys[] {
    const shards = takesPresenceEvents(endpoint) ? this.shardSources : [];
    return [...shards, ...endpoint.filter.channels.map((channel) => this.keys.webhookChannelSource(channel))];
  }

  /** The sources the fan-out reads for these endpoints: every shard's, and each channel any of them names, once. */
  sourcesFor(endpoints: readonly WebhookEndpoint[]): WebhookSourceKeys[] {
    const channels = new Set(endpoints.flatMap((endpoint) => endpoint.filter.channels));
    return [...this.shardSources, ...[...channels].map((channel) => this.keys.webhookChannelSource(channel))];
  }

  // ---- the registry ----

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const entries = await this.redis.hgetall(this.keys.webhooks.endpoints);
    return decodeAll(entries);
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | null> {
    const json = await this.redis.hget(this.keys.webhooks.endpoints, id);
    return json === null ? null : decodeEndpoint(json);
  }

  /**
   * Registers a new endpoint, stamped with Redis time. When this resolves, every event written
   * afterwards that it wants is delivered to it: the version of each source it reads is raised, so a
   * fan-out still working from the old list writes nothing there and reads the list again. A channel
   * that no other endpoint names has its cursor moved to its stream's end first (start-source-3).
   */
  async createEndpoint(endpoint: Omit<WebhookEndpoint, 'createdAt'>): Promise<WebhookEndpoint> {
    const record: WebhookEndpoint = { ...endpoint, createdAt: await this.now() };
    await this.startChannelSources(record.filter.channels);
    const added = await this.redis.hsetnx(this.keys.webhooks.endpoints, record.id, encodeEndpoint(record));
    if (added === 0) throw new WebhookInputError('endpoint_exists', `webhook ${record.id} exists`);
    await this.announceChange(record);
    return record;
  }

  /**
   * Starts each of `channels` that no endpoint names at its stream's end. Versions first, then the
   * list: an endpoint naming one of them that the list misses raised its version after the read, and
   * the script refuses to move that cursor.
   */
  private async startChannelSources(channels: readonly string[]): Promise<void> {
    if (channels.length === 0) return;
    const sources = channels.map((channel) => this.keys.webhookChannelSource(channel));
    const versions = await this.versions(sources);
    const named = new Set((await this.listEndpoints()).flatMap((endpoint) => endpoint.filter.channels));
    await Promise.all(
      sources
        .map((source, i) => ({ source, version: versions[i] as string }))
        .filter(({ source }) => source.stream.kind === 'channel' && !named.has(source.stream.channel))
        .map(({ source, version }) => this.redis[this.scripts.startSource]!(source.cursor, source.version, source.events, version)),
    );
  }

  /**
   * Replaces an endpoint's record (WEBHOOK_URLS endpoints whose secret or events changed). The new
   * record must read the same sources: its lanes stay where they are.
   */
  async replaceEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    const current = await this.getEndpoint(endpoint.id);
    const names = (record: WebhookEndpoint) => this.sourcesOf(record).map((source) => source.source);
    if (current !== null && names(current).join() !== names(endpoint).join()) {
      throw new Error(`webhook ${endpoint.id}: a replacement must read the same sources (channels, and online/offline or not)`);
    }
    await this.redis.hset(this.keys.webhooks.endpoints, endpoint.id, encodeEndpoint(endpoint));
    await this.announceChange(endpoint);
  }

  /**
   * Removes an endpoint with everything queued for it and its dead letters. When this resolves, no
   * fan-out queues anything more for it; a delivery already under way may still complete, and its
   * delivery job finds the endpoint gone and stops.
   */
  async deleteEndpoint(id: string): Promise<boolean> {
    const json = await this.redis[this.scripts.retire]!(this.keys.webhooks.endpoints, this.keys.webhooks.deleting, id);
    const record = typeof json === 'string' ? decodeEndpoint(json) : null;
    if (record === null) return false;
    await this.finishDeletion(record);
    return true;
  }

  /**
   * The rest of a deletion (retire-2 took the endpoint out of the registry): the versions raised,
   * so no fan-out writes to its lanes any more, then its lanes dropped. Idempotent: the repair runs
   * it again for a deletion a crash cut short.
   */
  private async finishDeletion(record: WebhookEndpoint): Promise<void> {
    await this.announceChange(record);
    await this.dropLanes(record);
    await this.redis.hdel(this.keys.webhooks.deleting, record.id);
  }

  /** Finishes the deletions a crash cut short (the records retire-2 kept); returns the ids. */
  async finishDeletions(): Promise<string[]> {
    const pending = decodeAll(await this.redis.hgetall(this.keys.webhooks.deleting));
    for (const record of pending) await this.finishDeletion(record);
    return pending.map((record) => record.id);
  }

  /** Deletes an endpoint's lanes (queued events and dead letters), one call per source. */
  async dropLanes(endpoint: WebhookEndpoint): Promise<void> {
    await Promise.all(this.lanes(endpoint).map((lane) => this.redis.del(lane.queue, lane.dead)));
  }

  /** The version of each of `sources`: what a fan-out must pass to `fanOut` with the endpoint list it read after. */
  async versions(sources: readonly WebhookSourceKeys[]): Promise<string[]> {
    return Promise.all(sources.map(async (source) => (await this.redis.get(source.version)) ?? '0'));
  }

  /** Raises the version of every source `endpoint` reads (and of every shard's: cheap, and safe for any change). */
  private async announceChange(endpoint: WebhookEndpoint): Promise<void> {
    const channels = endpoint.filter.channels.map((channel) => this.keys.webhookChannelSource(channel));
    await Promise.all([...this.shardSources, ...channels].map((source) => this.redis.incr(source.version)));
    await this.notify({ kind: 'changed' });
  }

  async notify(notice: WebhookNotice): Promise<void> {
    await this.redis.publish(this.keys.webhooks.channel, JSON.stringify(notice));
  }

  /** The notice a channel message carries; null for anything else. */
  static parseNotice(message: string): WebhookNotice | null {
    try {
      const value = JSON.parse(message) as { kind?: unknown; endpoint?: unknown };
      if (value.kind === 'changed') return { kind: 'changed' };
      if (value.kind === 'queued' && typeof value.endpoint === 'string') return { kind: 'queued', endpoint: value.endpoint };
    } catch {
      // not ours
    }
    return null;
  }

  // ---- the fan-out ----

  /** The id of the last entry of `source` fanned out ('0-0': none yet, start from the oldest retained). */
  async cursor(source: WebhookSourceKeys): Promise<string> {
    return (await this.redis.get(source.cursor)) ?? '0-0';
  }

  /**
   * Appends events to endpoint lanes and moves the source's cursor from `from` to `to`, in one step
   * (fan-out-3.lua). `events` are the run's events that any endpoint wants, each once; `lanes` maps
   * an endpoint id to the positions in `events` of its events, in stream order.
   */
  async fanOut(
    source: WebhookSourceKeys,
    from: string,
    to: string,
    version: string,
    events: readonly OutgoingEvent[],
    lanes: ReadonlyMap<string, readonly number[]>,
  ): Promise<FanOutResult> {
    const args: (string | number)[] = [events.length];
    for (const event of events) args.push(event.id, event.at, event.json);
    for (const [endpoint, positions] of lanes) {
      args.push(endpoint, positions.length);
      for (const position of positions) args.push(position + 1);
    }
    const reply = await this.redis[this.scripts.fanOut]!(
      source.cursor,
      source.version,
      source.events,
      from,
      to,
      version,
      WEBHOOK_CONSUMER_GROUP,
      source.lanePrefix,
      ...args,
    );
    if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw new Error(`fan-out-3: unexpected reply ${JSON.stringify(reply)}`);
    if (reply[0] === 'ok') return { kind: 'done', activated: reply.slice(1).map(String) };
    if (reply[0] === 'moved') return { kind: 'moved', cursor: String(reply[1]) };
    if (reply[0] === 'stale') return { kind: 'stale' };
    throw new Error(`fan-out-3: unexpected reply ${JSON.stringify(reply)}`);
  }

  /** Takes or renews the fan-out lease for `ttlMs`; false while another worker holds it. */
  async holdLease(owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis[this.scripts.lease]!(this.keys.webhooks.fanOutLease, owner, ttlMs)) === 1;
  }

  /** Gives the lease up (if held), so another worker takes over at once. */
  async releaseLease(owner: string): Promise<void> {
    await this.redis[this.scripts.lease]!(this.keys.webhooks.fanOutLease, owner, 1);
  }

  // ---- delivery jobs ----

  /**
   * Makes a new delivery job current for the endpoint if its current one is `expected` (null: none)
   * and returns its id; null when another job is current.
   */
  async claimJob(endpoint: string, expected: string | null): Promise<string | null> {
    const reply = await this.redis[this.scripts.claim]!(this.keys.webhooks.jobs, this.keys.webhooks.jobSeq, endpoint, expected ?? '');
    return typeof reply === 'string' ? reply : null;
  }

  /** Ends the endpoint's current job if it is `job`. */
  async releaseJob(endpoint: string, job: string): Promise<boolean> {
    return (await this.redis[this.scripts.release]!(this.keys.webhooks.jobs, endpoint, job)) === 1;
  }

  async currentJob(endpoint: string): Promise<string | null> {
    return this.redis.hget(this.keys.webhooks.jobs, endpoint);
  }

  /** The endpoint's current job and its record, in one round trip (both keys are in the `{webhooks}` slot). */
  async jobAndEndpoint(endpoint: string): Promise<{ job: string | null; endpoint: WebhookEndpoint | null }> {
    const replies =
      (await this.redis.pipeline().hget(this.keys.webhooks.jobs, endpoint).hget(this.keys.webhooks.endpoints, endpoint).exec()) ?? [];
    for (const [error] of replies) if (error) throw error;
    const [job, json] = replies.map(([, value]) => value as string | null);
    return { job: job ?? null, endpoint: json === null || json === undefined ? null : decodeEndpoint(json) };
  }

  /** Endpoint id → current job id, for every endpoint that has one. */
  async currentJobs(): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(this.keys.webhooks.jobs)));
  }

  /** Forgets the job state of an endpoint that no longer exists. */
  async forgetJobs(endpoint: string): Promise<void> {
    await this.redis.hdel(this.keys.webhooks.jobs, endpoint);
    await this.redis.hdel(this.keys.webhooks.jobSeq, endpoint);
  }

  // ---- lanes ----

  /** The endpoint's lanes, one per source it reads (`sourcesOf`), in that order. */
  lanes(endpoint: WebhookEndpoint): WebhookLaneKeys[] {
    return this.sourcesOf(endpoint).map((source) => webhookLaneKeys(source, endpoint.id));
  }

  /**
   * The next batch for an endpoint: up to `max` events from the fronts of its lanes, merged by time,
   * after `after` (the `after` of a previous batch, whose events need not be acknowledged yet; null:
   * from the fronts), and no more than fit in MAX_EVENT_IDS_BYTES of ids. Only fronts are taken, so
   * each lane's order (its source stream's) is kept whatever the times say. Each lane is read once
   * for twice its share of `max`, and, when that comes to less than `max` because the events are in
   * a few lanes, those lanes once more: at most two round trips, and a backlog in every lane costs
   * about 2 × `max` entries read, not `max` per lane. A lane read to its end for this batch is left
   * for the next one, so across lanes a batch is in time order only as far as it reaches.
   */
  async readBatch(endpoint: WebhookEndpoint, max: number, after: BatchPosition | null = null): Promise<Batch> {
    const lanes = this.lanes(endpoint);
    const buffers = lanes.map((): QueuedEvent[] => []);
    const read = lanes.map((_, lane) => after?.[lane] ?? null);
    const fill = async (which: readonly number[], count: number): Promise<number[]> => {
      const reads = await Promise.all(
        which.map((lane) => {
          const last = read[lane];
          return this.redis.xrange((lanes[lane] as WebhookLaneKeys).queue, last === null ? '-' : `(${last}`, '+', 'COUNT', count);
        }),
      );
      return which.filter((lane, i) => {
        const entries = reads[i] ?? [];
        for (const [entryId, fields] of entries) (buffers[lane] as QueuedEvent[]).push(queuedEvent(lane, entryId, fields));
        if (entries.length > 0) read[lane] = (entries[entries.length - 1] as [string, string[]])[0];
        return entries.length === count;
      });
    };
    if (lanes.length === 0) return { events: [], after: [] };
    const share = Math.max(1, Math.ceil((2 * max) / lanes.length));
    const truncated = await fill(
      lanes.map((_, lane) => lane),
      share,
    );
    const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    if (total < max && truncated.length > 0) await fill(truncated, Math.ceil((max - total) / truncated.length));

    const heads = lanes.map(() => 0);
    const taken = lanes.map((_, lane) => after?.[lane] ?? null);
    const events: QueuedEvent[] = [];
    let idBytes = 0;
    while (events.length < max) {
      let pick: QueuedEvent | undefined;
      for (let lane = 0; lane < lanes.length; lane += 1) {
        const head = buffers[lane]?.[heads[lane] as number];
        if (head !== undefined && (pick === undefined || head.at < pick.at || (head.at === pick.at && head.id < pick.id))) pick = head;
      }
      if (pick === undefined) break;
      // Ids are ASCII (shard numbers, entry ids, channel names): a character is a byte.
      idBytes += pick.id.length + (events.length > 0 ? 1 : 0);
      if (events.length > 0 && idBytes > MAX_EVENT_IDS_BYTES) break;
      events.push(pick);
      heads[pick.lane] = (heads[pick.lane] as number) + 1;
      taken[pick.lane] = pick.entryId;
    }
    return { events, after: taken };
  }

  /** Removes delivered events from their lanes. */
  async ack(endpoint: WebhookEndpoint, events: readonly QueuedEvent[]): Promise<void> {
    const lanes = this.lanes(endpoint);
    const byLane = new Map<number, string[]>();
    for (const event of events) byLane.set(event.lane, [...(byLane.get(event.lane) ?? []), event.entryId]);
    await Promise.all([...byLane].map(([lane, ids]) => this.redis.xdel((lanes[lane] as WebhookLaneKeys).queue, ...ids)));
  }

  async hasQueued(endpoint: WebhookEndpoint): Promise<boolean> {
    const lengths = await Promise.all(this.lanes(endpoint).map((lane) => this.redis.xlen(lane.queue)));
    return lengths.some((length) => length > 0);
  }

  /**
   * Moves the endpoint's events queued before `cutoffMs` to its dead letters, keeping about
   * `maxDeadLetters` of them (the oldest go first); returns how many moved.
   */
  async expire(endpoint: WebhookEndpoint, cutoffMs: number, attempts: number, error: string, maxDeadLetters: number): Promise<number> {
    const lanes = this.lanes(endpoint);
    const perLane = Math.max(1, Math.ceil(maxDeadLetters / Math.max(1, lanes.length)));
    const moved = await Promise.all(
      lanes.map(async (lane) => {
        let total = 0;
        for (;;) {
          const n = Number(
            await this.redis[this.scripts.expire]!(lane.queue, lane.dead, cutoffMs, MOVES_PER_CALL, attempts, error, perLane),
          );
          total += n;
          if (n < MOVES_PER_CALL) return total;
        }
      }),
    );
    return moved.reduce((sum, n) => sum + n, 0);
  }

  /** Queued and dead counts and the oldest queued time per endpoint: one pipeline per source (a source is one slot). */
  async laneStats(endpoints: readonly WebhookEndpoint[]): Promise<Map<string, LaneStats>> {
    const stats = new Map<string, LaneStats>(endpoints.map(({ id }) => [id, { queued: 0, dead: 0, oldestQueuedAt: null }]));
    const bySource = new Map<string, { source: WebhookSourceKeys; ids: string[] }>();
    for (const endpoint of endpoints) {
      for (const source of this.sourcesOf(endpoint)) {
        const entry = bySource.get(source.source) ?? { source, ids: [] };
        bySource.set(source.source, entry);
        entry.ids.push(endpoint.id);
      }
    }
    await Promise.all(
      [...bySource.values()].map(async ({ source, ids }) => {
        const pipeline = this.redis.pipeline();
        for (const id of ids) {
          const lane = webhookLaneKeys(source, id);
          pipeline.xlen(lane.queue).xlen(lane.dead).xrange(lane.queue, '-', '+', 'COUNT', 1);
        }
        const replies = (await pipeline.exec()) ?? [];
        ids.forEach((id, i) => {
          const [queued, dead, first] = [replies[3 * i]?.[1], replies[3 * i + 1]?.[1], replies[3 * i + 2]?.[1]];
          const entry = stats.get(id) as LaneStats;
          entry.queued += Number(queued ?? 0);
          entry.dead += Number(dead ?? 0);
          const oldest = (first as [string, string[]][] | undefined)?.[0]?.[0];
          if (oldest !== undefined) entry.oldestQueuedAt = Math.min(entry.oldestQueuedAt ?? Infinity, msOf(oldest));
        });
      }),
    );
    return stats;
  }

  // ---- dead letters ----

  /**
   * A page of an endpoint's dead letters, oldest first across its lanes, after `cursor` (null: from
   * the start). `nextCursor` is null when there are no more.
   */
  async deadLetters(
    endpoint: WebhookEndpoint,
    cursor: string | null,
    limit: number,
  ): Promise<{ deadLetters: DeadLetter[]; nextCursor: string | null }> {
    const lanes = this.lanes(endpoint);
    const sources = this.sourcesOf(endpoint);
    let position = EventCursor.start(lanes.length);
    if (cursor !== null) {
      const parsed = EventCursor.parse(cursor, lanes.length);
      if (parsed === null) throw new WebhookInputError('bad_cursor', 'cursor is not a nextCursor of this list');
      position = parsed;
    }
    const start = position;
    const reads = await Promise.all(lanes.map((lane, i) => this.redis.xrange(lane.dead, `(${start.position(i)}`, '+', 'COUNT', limit)));
    const merged = reads
      .flatMap((entries, lane) => entries.map(([entryId, fields]) => ({ lane, entryId, fields })))
      .sort((a, b) => compareStreamIds(a.entryId, b.entryId) || a.lane - b.lane);
    const page = merged.slice(0, limit);
    for (const { lane, entryId } of page) position = position.with(lane, entryId);
    const more = merged.length > limit || reads.some((entries) => entries.length === limit);
    return {
      deadLetters: page.map(({ lane, entryId, fields }) => deadLetter(sources[lane] as WebhookSourceKeys, entryId, fields)),
      nextCursor: more ? position.toString() : null,
    };
  }

  /**
   * Queues dead letters again (all of them, or those named by `ids`), after what is queued now; each
   * gets a new retry window. Returns how many; wakes a worker to deliver them.
   */
  async replay(endpoint: WebhookEndpoint, ids: readonly string[] | null): Promise<number> {
    const lanes = this.lanes(endpoint);
    const laneOf = new Map(this.sourcesOf(endpoint).map((source, lane) => [source.source, lane]));
    let moved = 0;
    let activated = false;
    const move = async (lane: number, named: readonly string[]) => {
      const keys = lanes[lane] as WebhookLaneKeys;
      for (;;) {
        const reply = (await this.redis[this.scripts.replay]!(keys.dead, keys.queue, MOVES_PER_CALL, ...named)) as [number, number];
        moved += Number(reply[0]);
        activated ||= Number(reply[1]) === 1;
        if (named.length > 0 || Number(reply[0]) < MOVES_PER_CALL) return;
      }
    };
    if (ids === null) await Promise.all(lanes.map((_, lane) => move(lane, [])));
    else {
      const byLane = new Map<number, string[]>();
      for (const id of ids) {
        const match = DEAD_LETTER_ID.exec(id);
        const lane = match === null ? undefined : laneOf.get(match[1] as string);
        if (lane === undefined) continue;
        byLane.set(lane, [...(byLane.get(lane) ?? []), (match as RegExpExecArray)[2] as string]);
      }
      await Promise.all([...byLane].map(([lane, named]) => move(lane, named)));
    }
    if (activated) await this.notify({ kind: 'queued', endpoint: endpoint.id });
    return moved;
  }

  /** Deletes all of an endpoint's dead letters; returns how many there were. */
  async dropDeadLetters(endpoint: WebhookEndpoint): Promise<number> {
    const counts = await Promise.all(
      this.lanes(endpoint).map(async (lane) => {
        const length = await this.redis.xlen(lane.dead);
        await this.redis.del(lane.dead);
        return length;
      }),
    );
    return counts.reduce((sum, n) => sum + n, 0);
  }
}

/** The endpoints of a registry hash's entries (those that are endpoints), oldest first. */
function decodeAll(entries: Record<string, string>): WebhookEndpoint[] {
  return Object.values(entries)
    .map(decodeEndpoint)
    .filter((endpoint): endpoint is WebhookEndpoint => endpoint !== null)
    .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

function deadLetter(source: WebhookSourceKeys, entryId: string, fields: string[]): DeadLetter {
  const map = streamFieldMap(fields);
  let event: unknown = map.get('event') ?? null;
  try {
    event = JSON.parse(String(event));
  } catch {
    // kept as the string it is
  }
  return {
    id: `${source.source}-${entryId}`,
    event,
    queuedAt: msOf(map.get('queuedAt') ?? '0-0'),
    failedAt: msOf(entryId),
    attempts: Number(map.get('attempts') ?? 0),
    error: map.get('error') ?? '',
  };
}

/** A lane entry (`id`, `at`, `event`, as fan-out-3.lua writes them), without parsing the event's JSON. */
function queuedEvent(lane: number, entryId: string, fields: string[]): QueuedEvent {
  const map = streamFieldMap(fields);
  return { lane, entryId, json: map.get('event') ?? 'null', id: map.get('id') ?? '', at: Number(map.get('at') ?? 0) };
}
