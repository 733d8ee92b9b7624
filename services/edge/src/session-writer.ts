import { RedisClock, isRedisUnavailable, type OfflineReason, type WriteOp, type WriteResult } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { EdgeSession } from './edge-session.js';
import type { EdgeStore } from './edge-store.js';
import type { EdgeMetrics } from './metrics.js';

const MAX_RETRY_DELAY_MS = 2_000;
/** First retry delay after a failed write; it doubles with each failure in a row, up to MAX_RETRY_DELAY_MS. */
const FIRST_RETRY_DELAY_MS = 50;
/** Doublings of the retry delay: 50 ms × 2^6 already passes MAX_RETRY_DELAY_MS. */
const MAX_RETRY_DOUBLINGS = 6;
/** A failing Redis is logged at its first failure and then every this many in a row. */
const LOG_EVERY_FAILURES = 50;
/** How long Redis keeps a node that stopped beating in its stats (node-beat-2.lua). */
const KEEP_DEAD_NODE_MS = 300_000;
/**
 * Session ends Redis acknowledged this recently are sent again after a reconnection: a failover to a
 * replica that had not received them loses them (docs/reliability.md, Sentinel). It covers Sentinel's
 * default detection time (30 s) twice over; at most MAX_RECENT_ENDS are kept.
 */
const RESEND_ENDS_WITHIN_MS = 60_000;
const MAX_RECENT_ENDS = 50_000;

/**
 * What the node knows of its link to Redis, on its monotonic clock (performance.now()): read by the
 * fence (fence.ts), which decides from it whether the node is cut off.
 */
export interface RedisLink {
  /** When the oldest write Redis has not answered yet was sent (or first failed); null when every write was answered. */
  unansweredSince: number | null;
  /**
   * When the last refresh that every shard acknowledged was sent (or was due, with no session to
   * renew): Redis holds no deadline of this node's sessions earlier than this plus the session TTL.
   * Null before the first.
   */
  refreshedAt: number | null;
  /** Redis has answered a write of this node since it started. */
  everAnswered: boolean;
}

type RemoveOp = WriteOp & { kind: 'remove' };

type Task =
  | { kind: 'add'; session: EdgeSession }
  | { kind: 'remove'; session: EdgeSession; reason: OfflineReason }
  | { kind: 'state'; session: EdgeSession }
  /** A removal Redis acknowledged (at `at`) before a reconnection, sent again as it was (idempotent in Redis). */
  | { kind: 'resend'; op: RemoveOp; at: number };

export interface SessionWriterOptions {
  store: EdgeStore;
  node: string;
  /** Deadline written for each session: covers the gap to the next refresh plus margin. */
  sessionTtlMs: number;
  refreshMs: number;
  startedAt: number;
  logger: Logger;
  metrics: EdgeMetrics;
  /** Sessions the node holds now, looked up by session id. */
  sessions: ReadonlyMap<string, EdgeSession>;
  /** Offline grace for sessions ended by `closed` or `shutdown` (0: report at once). */
  offlineGraceMs: number;
  /** Most live sessions per client (0: no limit). */
  maxSessionsPerClient: number;
  /** Redis registered a session (again, after it was lost): its waiting channel requests may go. */
  onRegistered?(session: EdgeSession): void;
  /** Redis refused a session (over the per-client limit): the edge closes its connection. */
  onRejected(session: EdgeSession, code: 'too_many_sessions'): void;
}

/**
 * Writes an edge node's session changes to Redis in batches. Adds, removes and state changes are
 * kept in arrival order and sent as soon as the event loop is free (one flush in flight at a time,
 * so a connect storm becomes a few large pipelines). Every SESSION_REFRESH_MS the deadlines of all
 * registered sessions are renewed with one refresh (the store splits it by shard), and the node's
 * own liveness is written. When Redis fails, nothing is dropped: the unsent tasks go back to
 * the front of the queue and are retried with backoff. Sessions Redis no longer knows (swept while
 * this node was cut off, or Redis restarted empty) are registered again.
 */
export class SessionWriter {
  private readonly options: SessionWriterOptions;
  private queue: Task[] = [];
  private flushing: Promise<void> | null = null;
  private refreshDue = false;
  private failures = 0;
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly clock = new RedisClock();
  private readonly linkState: RedisLink = { unansweredSince: null, refreshedAt: null, everAnswered: false };
  /** Removals Redis acknowledged lately (the ops as sent, oldest first), and when. */
  private recentEnds: { op: RemoveOp; at: number }[] = [];

  constructor(options: SessionWriterOptions) {
    this.options = options;
  }

  start(): void {
    this.refreshTimer = setInterval(() => {
      this.refreshDue = true;
      this.schedule();
    }, this.options.refreshMs);
    this.refreshDue = true;
    this.schedule();
  }

  add(session: EdgeSession): void {
    this.push({ kind: 'add', session });
  }

  remove(session: EdgeSession, reason: OfflineReason): void {
    this.push({ kind: 'remove', session, reason });
  }

  stateChanged(session: EdgeSession): void {
    if (session.stateQueued) return;
    session.stateQueued = true;
    this.push({ kind: 'state', session });
  }

  /**
   * Flushes until every queued task is written or the deadline passes; returns what is left. When
   * Redis has failed every write of this node so far (a wrong REDIS_URL, Redis not started), there
   * is nothing to wait for: it returns at once.
   */
  async drain(timeoutMs: number): Promise<number> {
    if (!this.linkState.everAnswered && this.failures > 0) return this.queue.length;
    const deadline = Date.now() + timeoutMs;
    while ((this.queue.length > 0 || this.flushing !== null) && Date.now() < deadline) {
      if (this.flushing !== null) await this.flushing;
      else if (this.queue.length > 0) {
        this.cancelScheduled();
        await this.flush();
        if (this.queue.length > 0) await delay(Math.min(this.retryDelay(), Math.max(0, deadline - Date.now())));
      }
    }
    return this.queue.length;
  }

  /**
   * Redis is reachable again: refresh and retry at once rather than at the next backoff step, and
   * send again the session ends it acknowledged lately. A Redis that kept them finds nothing to do;
   * one that lost them (a replica promoted before it got them) ends those sessions again, with
   * their real reason and time, instead of showing them online until the sweeper expires them.
   */
  kick(): void {
    this.refreshDue = true;
    this.failures = 0;
    this.forgetOldEnds();
    if (this.recentEnds.length > 0) {
      const ends = this.recentEnds;
      this.recentEnds = [];
      this.queue.unshift(...ends.map(({ op, at }): Task => ({ kind: 'resend', op, at })));
      this.options.logger.info({ ends: ends.length }, 'sending recent session ends again after reconnecting to Redis');
    }
    this.cancelScheduled();
    this.schedule();
  }

  /**
   * Redis time at a moment of this process's monotonic clock, from the offset seen in the latest
   * reply; null before the first reply. Monotonic, so a wall-clock jump on this node changes nothing.
   */
  redisTimeAt(mono: number): number | null {
    const redisTime = this.clock.at(mono);
    return redisTime === null ? null : Math.round(redisTime);
  }

  /** The link as the writes saw it so far (a copy). */
  link(): RedisLink {
    return { ...this.linkState };
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer !== null) clearInterval(this.refreshTimer);
    this.cancelScheduled();
  }

  private push(task: Task): void {
    this.queue.push(task);
    this.schedule();
  }

  private schedule(delayMs = 0): void {
    if (this.stopped || this.scheduled !== null || this.flushing !== null) return;
    const run = () => {
      this.scheduled = null;
      void this.flush();
    };
    this.scheduled = delayMs > 0 ? setTimeout(run, delayMs) : setImmediate(run);
  }

  private cancelScheduled(): void {
    if (this.scheduled === null) return;
    clearTimeout(this.scheduled as NodeJS.Timeout);
    clearImmediate(this.scheduled as NodeJS.Immediate);
    this.scheduled = null;
  }

  private retryDelay(): number {
    // Never wait longer than a refresh period: deadlines must be renewed soon after Redis is back.
    return Math.min(MAX_RETRY_DELAY_MS, this.options.refreshMs, FIRST_RETRY_DELAY_MS * 2 ** Math.min(this.failures, MAX_RETRY_DOUBLINGS));
  }

  private flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = null;
      if (this.queue.length > 0 || this.refreshDue) this.schedule(this.failures > 0 ? this.retryDelay() : 0);
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const tasks = this.queue;
    this.queue = [];
    const ops: WriteOp[] = [];
    const opTask: (Task | null)[] = [];
    for (const task of tasks) {
      const op = this.toOp(task);
      if (op === null) continue;
      ops.push(op);
      opTask.push(task);
    }
    const refreshing = this.refreshDue;
    if (refreshing) {
      this.refreshDue = false;
      // The node's own liveness goes out with every refresh, also when it holds no session.
      void this.beat();
      const refresh = this.refreshOp();
      if (refresh !== null) {
        ops.push(refresh);
        opTask.push(null);
      }
    }
    if (ops.length === 0) {
      // A refresh with nothing to renew: no session of this node has a deadline in Redis earlier than now + TTL.
      if (refreshing) this.linkState.refreshedAt = performance.now();
      return;
    }

    const started = performance.now();
    this.linkState.unansweredSince ??= started;
    const results = await this.options.store.execute(ops);
    const finished = performance.now();
    this.noteAnswers(results, started, refreshing);
    this.options.metrics.flushSeconds.observe((finished - started) / 1000);
    for (const result of results) {
      if (result.ok && 'now' in result) {
        // Redis stamped `now` somewhere between sending and the reply: take the midpoint.
        this.clock.anchor(result.now, (started + finished) / 2);
        break;
      }
    }
    this.options.metrics.flushes.inc();

    const retry: Task[] = [];
    let failedError: Error | null = null;
    results.forEach((result, index) => {
      const task = opTask[index] ?? null;
      // Kept from its first acknowledgement: a reconnection does not make an end recent again.
      if (result.ok && result.kind === 'remove') this.rememberEnd(ops[index] as RemoveOp, task?.kind === 'resend' ? task.at : finished);
      if (!result.ok) {
        failedError = result.error;
        if (task !== null) retry.push(task);
        else this.refreshDue = true;
        // The shards that did answer still name the sessions they lost.
        if (result.kind === 'refresh') this.registerAgain(result.missing);
        return;
      }
      this.apply(task, result);
    });

    if (failedError !== null) {
      this.failures += 1;
      this.options.metrics.writeFailures.inc();
      // Redis out of reach is reported once per process (RedisReachability, in main); what else fails is news.
      const unavailable = isRedisUnavailable(failedError);
      if (!unavailable && (this.failures === 1 || this.failures % LOG_EVERY_FAILURES === 0)) {
        this.options.logger.warn({ err: failedError, pending: retry.length, failures: this.failures }, 'redis write failed; will retry');
      } else if (unavailable && this.options.logger.isLevelEnabled('debug')) {
        this.options.logger.debug(
          { error: (failedError as Error).message, pending: retry.length, failures: this.failures },
          'redis write failed; will retry',
        );
      }
      // Retried first, in their original order, ahead of anything queued meanwhile.
      this.queue = retry.concat(this.queue);
    } else if (this.failures > 0) {
      this.options.logger.info({ failures: this.failures }, 'redis writes recovered');
      this.failures = 0;
    }
  }

  /**
   * Redis answered a flush if every call got a reply, an error reply included (it is there, and
   * fencing this node would not help); a call that failed because Redis could not be reached leaves
   * the flush unanswered, and so does one still waiting.
   */
  private noteAnswers(results: readonly WriteResult[], sentAt: number, refreshing: boolean): void {
    const answered = results.every((result) => result.ok || !isRedisUnavailable(result.error));
    if (!answered) return;
    this.linkState.unansweredSince = null;
    this.linkState.everAnswered = true;
    if (refreshing && results.every((result) => result.ok)) this.linkState.refreshedAt = sentAt;
  }

  private rememberEnd(op: RemoveOp, at: number): void {
    this.recentEnds.push({ op, at });
    if (this.recentEnds.length > MAX_RECENT_ENDS) this.recentEnds.splice(0, this.recentEnds.length - MAX_RECENT_ENDS);
    // Pruned now and then rather than on every end: it is ordered by time.
    if (this.recentEnds.length % 1_024 === 0) this.forgetOldEnds();
  }

  private forgetOldEnds(): void {
    const cutoff = performance.now() - RESEND_ENDS_WITHIN_MS;
    let old = 0;
    while (old < this.recentEnds.length && (this.recentEnds[old]?.at ?? Infinity) < cutoff) old += 1;
    if (old > 0) this.recentEnds.splice(0, old);
  }

  private toOp(task: Task): WriteOp | null {
    if (task.kind === 'resend') return task.op;
    const { session } = task;
    switch (task.kind) {
      case 'add':
        if (session.stateQueued) session.stateQueued = false;
        return {
          kind: 'add',
          sessionId: session.sessionId,
          clientId: session.clientId,
          node: this.options.node,
          ttlMs: this.options.sessionTtlMs,
          stateJson: session.stateJson,
          maxSessions: this.options.maxSessionsPerClient,
        };
      case 'remove':
        return {
          kind: 'remove',
          sessionId: session.sessionId,
          clientId: session.clientId,
          reason: task.reason,
          endedAt: session.endedAtMono === null ? null : this.redisTimeAt(session.endedAtMono),
          graceMs: this.options.offlineGraceMs,
          node: this.options.node,
          registeredAt: session.registeredAt,
        };
      case 'state':
        session.stateQueued = false;
        // An unregistered session's state rides on its add; an ended one's state is moot.
        if (!session.registered || session.endedWith !== null || session.stateJson === null) return null;
        return { kind: 'state', sessionId: session.sessionId, clientId: session.clientId, stateJson: session.stateJson };
    }
  }

  private apply(task: Task | null, result: WriteResult & { ok: true }): void {
    if (result.kind === 'add' && task?.kind === 'add') {
      if (result.rejected !== null) {
        this.options.onRejected(task.session, result.rejected);
        return;
      }
      task.session.registered = true;
      task.session.registeredAt ??= result.now;
      this.options.onRegistered?.(task.session);
      return;
    }
    if (result.kind === 'refresh') this.registerAgain(result.missing);
  }

  /** Sessions a refresh found missing: Redis lost them (swept while we were cut off, or restarted empty). */
  private registerAgain(sessionIds: readonly string[]): void {
    for (const sessionId of sessionIds) {
      const session = this.options.sessions.get(sessionId);
      if (session === undefined || session.endedWith !== null || !session.registered) continue;
      session.registered = false;
      this.options.metrics.reregistered.inc();
      this.push({ kind: 'add', session });
    }
  }

  /** Every registered, live session: the sessions themselves, which carry their ids and shard. */
  private refreshOp(): WriteOp | null {
    const sessions: EdgeSession[] = [];
    for (const session of this.options.sessions.values()) {
      if (session.registered && session.endedWith === null) sessions.push(session);
    }
    return sessions.length === 0 ? null : { kind: 'refresh', sessions, ttlMs: this.options.sessionTtlMs };
  }

  private async beat(): Promise<void> {
    try {
      await this.options.store.nodeBeat(
        this.options.node,
        this.options.sessionTtlMs,
        this.options.sessions.size,
        this.options.startedAt,
        KEEP_DEAD_NODE_MS,
      );
    } catch {
      // Stats only; the next refresh tries again.
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
