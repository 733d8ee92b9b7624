/**
 * The fence: what an edge does when it alone is cut off from Redis (issue 13 §2; docs/reliability.md,
 * "An edge cut off from Redis alone").
 *
 * An edge whose writes go unanswered can't vouch for its clients: their deadlines in Redis run out
 * and the sweeper would report them offline although they are connected. Nothing on the edge's own
 * connection tells "this link is cut" from "Redis is away for everyone": both are silence. So:
 *
 * - suspect: a write has gone unanswered for `fenceAfterMs` (session-writer.ts keeps the link state).
 *   From half that time on the node asks two questions side by side, so that both answers are in
 *   when the bound passes:
 * - the probe: a PING on a second connection of its own. An answer means Redis is there and merely
 *   slow with this node's writes (a big batch, a loaded machine): nothing to do. No answer within the
 *   other half of the bound: the node can't reach Redis at all;
 * - the witness (redis-witness.ts), another process with its own path to Redis. No answer, or "not
 *   ready": Redis is away for everyone, an outage, and the edge behaves as it always has (keeps its
 *   clients, queues writes; the sweeper's hold-off keeps everyone online). "Ready", with the probe
 *   unanswered: this node alone is cut off:
 * - fence: stop accepting on every listener (a load balancer's check and connects fail at once),
 *   report not ready, and move every client with `BYE moved`, spread over half the time left before
 *   the earliest deadline Redis holds for them (at most `maxMoveWindowMs`), so that each has
 *   reconnected elsewhere and been registered there before its old session can expire;
 * - heal: once Redis answers a write again, the queued writes go out (the moved sessions' ends among
 *   them; Redis has either expired those sessions already, silently since their clients are
 *   registered elsewhere, or ends them now) and the node accepts again.
 *
 * After an outage the witness sees Redis back before this node's own writes are answered (a
 * reconnection, a backlog of held commands); so once the witness has said "down", the time a write
 * has gone unanswered is counted from its first "up" after that, not from the write: the node then
 * has `fenceAfterMs` to be answered before an "up" can fence it.
 */
import type { Logger } from '@presence/telemetry';
import type { Gauge, Counter } from 'prom-client';
import type { Witness, WitnessAnswer } from './redis-witness.js';
import type { RedisLink } from './session-writer.js';

export interface FenceOptions {
  /** A write unanswered this long makes the node ask the witness. */
  fenceAfterMs: number;
  /** The deadline each refresh writes (now + TTL): what bounds the time to move clients. */
  sessionTtlMs: number;
  /** Longest spread of the `BYE moved` frames (DRAIN_WINDOW_MS). */
  maxMoveWindowMs: number;
}

export interface FenceDeps {
  /** Null when no REDIS_WITNESS_URL is set: the node then never fences. */
  witness: Witness | null;
  link(): RedisLink;
  /** PINGs Redis on a connection other than the writes'; true when answered within `timeoutMs`. Never rejects. */
  probe(timeoutMs: number): Promise<boolean>;
  /** Stops every listener accepting (open connections stay). */
  stopAccepting(): void;
  /** Accepts again on every listener. */
  resumeAccepting(): Promise<void>;
  /** Sends every client `BYE moved`, spread over `windowMs`. */
  moveSessions(windowMs: number): Promise<void>;
  logger: Logger;
  metrics: { fenced: Gauge; fences: Counter };
  options: FenceOptions;
  /** Monotonic ms, the clock of RedisLink; tests move it by hand. */
  now?: () => number;
}

type FenceState = 'serving' | 'fenced';

export class Fence {
  private readonly deps: FenceDeps;
  private readonly now: () => number;
  private readonly checkMs: number;
  private readonly askEveryMs: number;
  private state: FenceState = 'serving';
  /**
   * In an episode of unanswered writes in which the witness said "down": when it last said so, and
   * then when it first said "up" again. The unanswered time counts from there.
   */
  private outageSeenAt: number | null = null;
  /** The witness's latest answer in this episode, null before one. */
  private witnessSaid: WitnessAnswer['redis'] | null = null;
  /** The latest probe of this episode: when it was sent and whether Redis answered it; null before one. */
  private probed: { at: number; answered: boolean } | null = null;
  private probing = false;
  private askedAt = Number.NEGATIVE_INFINITY;
  private asking = false;
  /** What was logged in the current episode of unanswered writes, so each is said once. */
  private said = new Set<'outage' | 'no_witness' | 'slow'>();
  private timer: NodeJS.Timeout | null = null;

  constructor(deps: FenceDeps) {
    this.deps = deps;
    this.now = deps.now ?? (() => performance.now());
    const { fenceAfterMs } = deps.options;
    this.checkMs = Math.max(20, Math.min(250, Math.floor(fenceAfterMs / 5)));
    this.askEveryMs = Math.max(this.checkMs, Math.min(1_000, Math.floor(fenceAfterMs / 2)));
  }

  get fenced(): boolean {
    return this.state === 'fenced';
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.checkMs);
    if (this.deps.witness === null) {
      this.deps.logger.info({}, 'no REDIS_WITNESS_URL: if this edge alone loses Redis it keeps its clients, and the sweeper expires them');
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Why the node takes no clients now, or null. */
  notReady(): string | null {
    return this.fenced
      ? 'cut off from Redis while REDIS_WITNESS_URL still reaches it: clients were moved to other nodes; serving again once Redis answers'
      : null;
  }

  /**
   * One look at the link (every `checkMs`; tests call it directly). From half the bound on, the probe
   * and the witness are asked side by side, so that both answers are there when the bound passes and
   * neither's time adds to it. Resolves once the answers it asked for are handled.
   */
  async check(): Promise<void> {
    const link = this.deps.link();
    if (link.unansweredSince === null) {
      await this.heal();
      return;
    }
    if (this.fenced) return;
    if (this.unansweredFor(link) >= this.deps.options.fenceAfterMs / 2) await Promise.all([this.probeNow(), this.askWitness()]);
    this.decide();
  }

  /** Sends a probe unless one is under way or one was sent less than half the bound ago. */
  private async probeNow(): Promise<void> {
    const every = this.deps.options.fenceAfterMs / 2;
    if (this.probing || (this.probed !== null && this.now() - this.probed.at < every)) return;
    this.probing = true;
    const at = this.now();
    try {
      this.probed = { at, answered: await this.deps.probe(every) };
    } finally {
      this.probing = false;
    }
  }

  /** Asks the witness unless a question is under way or was asked less than `askEveryMs` ago. */
  private async askWitness(): Promise<void> {
    if (this.deps.witness === null || this.asking || this.now() - this.askedAt < this.askEveryMs) return;
    this.asking = true;
    this.askedAt = this.now();
    let answer: WitnessAnswer;
    try {
      answer = await this.deps.witness();
    } finally {
      this.asking = false;
    }
    if (this.deps.link().unansweredSince === null) return;
    const previous = this.witnessSaid;
    this.witnessSaid = answer.redis;
    if (answer.redis === 'down') {
      this.outageSeenAt = this.now();
      this.sayOnce(
        'outage',
        { witness: answer.detail },
        'Redis answers neither this edge nor the witness: an outage, not a partition; keeping clients',
      );
    } else if (previous === 'down') {
      // The outage is over for the witness: this node's own writes get their time from now.
      this.outageSeenAt = this.now();
    }
  }

  /** Fences once the bound has passed with Redis silent on both connections and up for the witness. */
  private decide(): void {
    const link = this.deps.link();
    if (link.unansweredSince === null || this.fenced) return;
    const unanswered = this.unansweredFor(link);
    if (unanswered < this.deps.options.fenceAfterMs) return;
    const since = Math.max(link.unansweredSince, this.outageSeenAt ?? Number.NEGATIVE_INFINITY);
    // A probe sent in this episode (after the last outage the witness saw) decides.
    if (this.probed === null || this.probed.at < since) return;
    if (this.probed.answered) {
      this.sayOnce(
        'slow',
        { unansweredMs: Math.round(unanswered) },
        'Redis answers a PING on a second connection: writes are slow, not cut off',
      );
      return;
    }
    if (this.deps.witness === null) {
      this.sayOnce(
        'no_witness',
        { unansweredMs: Math.round(unanswered) },
        'Redis does not answer this edge; without REDIS_WITNESS_URL it keeps its clients',
      );
      return;
    }
    if (this.witnessSaid === 'up') this.fence(link);
  }

  private fence(link: RedisLink): void {
    this.state = 'fenced';
    this.deps.metrics.fenced.set(1);
    this.deps.metrics.fences.inc();
    this.deps.stopAccepting();
    const { sessionTtlMs, maxMoveWindowMs } = this.deps.options;
    const now = this.now();
    // Redis holds no deadline of ours earlier than the last refresh every shard acknowledged, plus the TTL.
    const leftMs = link.refreshedAt === null ? 0 : link.refreshedAt + sessionTtlMs - now;
    const windowMs = Math.round(Math.max(0, Math.min(maxMoveWindowMs, leftMs / 2)));
    this.deps.logger.warn(
      { unansweredMs: Math.round(this.unansweredFor(link)), deadlineInMs: Math.round(leftMs), windowMs },
      'cut off from Redis while the witness reaches it: not accepting, moving clients to other nodes (BYE moved)',
    );
    void this.deps.moveSessions(windowMs).catch((error: unknown) => this.deps.logger.error({ err: error }, 'moving clients failed'));
  }

  private async heal(): Promise<void> {
    this.outageSeenAt = null;
    this.witnessSaid = null;
    this.probed = null;
    this.said.clear();
    if (!this.fenced) return;
    this.state = 'serving';
    this.deps.metrics.fenced.set(0);
    try {
      await this.deps.resumeAccepting();
      this.deps.logger.info({}, 'Redis answers this edge again: accepting connections');
    } catch (error) {
      // The port was taken meanwhile: stay out of rotation and try again at the next check.
      this.state = 'fenced';
      this.deps.metrics.fenced.set(1);
      this.deps.logger.error({ err: error }, 'could not listen again after the link to Redis came back; retrying');
    }
  }

  private unansweredFor(link: RedisLink): number {
    const since = Math.max(link.unansweredSince ?? Infinity, this.outageSeenAt ?? Number.NEGATIVE_INFINITY);
    return this.now() - since;
  }

  private sayOnce(what: 'outage' | 'no_witness' | 'slow', obj: object, msg: string): void {
    if (this.said.has(what)) return;
    this.said.add(what);
    this.deps.logger.warn(obj, msg);
  }
}
