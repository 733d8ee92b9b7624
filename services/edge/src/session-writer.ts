import type { OfflineReason, PresenceStore, WriteOp, WriteResult } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import type { EdgeSession } from './edge-session.js';
import type { EdgeMetrics } from './metrics.js';

/** Members per refresh script call: keeps each call short and inside Lua's unpack limit. */
const REFRESH_CHUNK = 1_000;
const MAX_RETRY_DELAY_MS = 2_000;

type Task =
  | { kind: 'add'; session: EdgeSession }
  | { kind: 'remove'; session: EdgeSession; reason: OfflineReason }
  | { kind: 'state'; session: EdgeSession };

export interface SessionWriterOptions {
  store: PresenceStore;
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
  /** Redis refused a session (over the per-client limit): the edge closes its connection. */
  onRejected(session: EdgeSession, code: 'too_many_sessions'): void;
}

/**
 * Writes an edge node's session changes to Redis in batches. Adds, removes and state changes are
 * kept in arrival order and sent as soon as the event loop is free (one flush in flight at a time,
 * so a connect storm becomes a few large pipelines). Every SESSION_REFRESH_MS the deadlines of all
 * registered sessions are renewed with one script call per shard (and per 1000 sessions), and the
 * node's own liveness is written. When Redis fails, nothing is dropped: the unsent tasks go back to
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
  /** Redis time and our monotonic time at the latest reply: Redis time now = redisAt + (mono now - monoAt). */
  private clock: { redisAt: number; monoAt: number } | null = null;

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

  /** Tasks not yet confirmed by Redis. */
  get pending(): number {
    return this.queue.length;
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

  /** Flushes until every queued task is written or the deadline passes; returns what is left. */
  async drain(timeoutMs: number): Promise<number> {
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

  /** Redis is reachable again: refresh and retry at once rather than at the next backoff step. */
  kick(): void {
    this.refreshDue = true;
    this.failures = 0;
    this.cancelScheduled();
    this.schedule();
  }

  /**
   * Redis time at a moment of this process's monotonic clock, from the offset seen in the latest
   * reply; null before the first reply. Monotonic, so a wall-clock jump on this node changes nothing.
   */
  redisTimeAt(mono: number): number | null {
    return this.clock === null ? null : Math.round(this.clock.redisAt + (mono - this.clock.monoAt));
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
    return Math.min(MAX_RETRY_DELAY_MS, this.options.refreshMs, 50 * 2 ** Math.min(this.failures, 6));
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
      for (const op of this.refreshOps()) {
        ops.push(op);
        opTask.push(null);
      }
    }
    if (ops.length === 0) return;

    const started = performance.now();
    const results = await this.options.store.execute(ops);
    const finished = performance.now();
    this.options.metrics.flushSeconds.observe((finished - started) / 1000);
    for (const result of results) {
      if (result.ok && 'now' in result) {
        // Redis stamped `now` somewhere between sending and the reply: take the midpoint.
        this.clock = { redisAt: result.now, monoAt: (started + finished) / 2 };
        break;
      }
    }
    this.options.metrics.flushes.inc();

    const retry: Task[] = [];
    let failedError: Error | null = null;
    results.forEach((result, index) => {
      const task = opTask[index] ?? null;
      if (!result.ok) {
        failedError = result.error;
        if (task !== null) retry.push(task);
        else this.refreshDue = true;
        return;
      }
      this.apply(task, result);
    });

    if (failedError !== null) {
      this.failures += 1;
      this.options.metrics.writeFailures.inc();
      if (this.failures === 1 || this.failures % 50 === 0) {
        this.options.logger.warn({ err: failedError, pending: retry.length, failures: this.failures }, 'redis write failed; will retry');
      }
      // Retried first, in their original order, ahead of anything queued meanwhile.
      this.queue = retry.concat(this.queue);
    } else if (this.failures > 0) {
      this.options.logger.info({ failures: this.failures }, 'redis writes recovered');
      this.failures = 0;
    }
  }

  private toOp(task: Task): WriteOp | null {
    const { session } = task;
    switch (task.kind) {
      case 'add':
        if (session.stateQueued) session.stateQueued = false;
        return {
          kind: 'add', sessionId: session.sessionId, clientId: session.clientId, node: this.options.node,
          ttlMs: this.options.sessionTtlMs, stateJson: session.stateJson, maxSessions: this.options.maxSessionsPerClient,
        };
      case 'remove':
        return {
          kind: 'remove', sessionId: session.sessionId, clientId: session.clientId, reason: task.reason,
          endedAt: session.endedAtMono === null ? null : this.redisTimeAt(session.endedAtMono),
          graceMs: this.options.offlineGraceMs, node: this.options.node, registeredAt: session.registeredAt,
        };
      case 'state':
        session.stateQueued = false;
        // An unregistered session's state rides on its add; an ended one's state is moot.
        if (!session.registered || session.endedWith !== null || session.stateJson === null) return null;
        return { kind: 'state', sessionId: session.sessionId, clientId: session.clientId, stateJson: session.stateJson };
    }
  }

  private apply(task: Task | null, result: WriteResult & { ok: true }): void {
    if (result.kind === 'add' && task !== null) {
      if (result.rejected !== null) {
        this.options.onRejected(task.session, result.rejected);
        return;
      }
      task.session.registered = true;
      task.session.registeredAt ??= result.now;
      return;
    }
    if (result.kind === 'refresh') {
      for (const member of result.missing) {
        const session = this.options.sessions.get(member.slice(0, member.indexOf('|')));
        if (session === undefined || session.endedWith !== null || !session.registered) continue;
        // Redis lost it (swept while we were cut off, or restarted empty): register it again.
        session.registered = false;
        this.options.metrics.reregistered.inc();
        this.push({ kind: 'add', session });
      }
    }
  }

  private refreshOps(): WriteOp[] {
    const byShard = new Map<number, string[]>();
    for (const session of this.options.sessions.values()) {
      if (!session.registered || session.endedWith !== null) continue;
      const members = byShard.get(session.shard);
      if (members === undefined) byShard.set(session.shard, [session.member]);
      else members.push(session.member);
    }
    const ops: WriteOp[] = [];
    for (const [shard, members] of byShard) {
      for (let i = 0; i < members.length; i += REFRESH_CHUNK) {
        ops.push({ kind: 'refresh', shard, members: members.slice(i, i + REFRESH_CHUNK), ttlMs: this.options.sessionTtlMs });
      }
    }
    return ops;
  }

  private async beat(): Promise<void> {
    try {
      await this.options.store.nodeBeat(
        this.options.node, this.options.sessionTtlMs, this.options.sessions.size, this.options.startedAt, 300_000,
      );
    } catch {
      // Stats only; the next refresh tries again.
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
