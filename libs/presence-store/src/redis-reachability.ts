import type { EventEmitter } from 'node:events';
import { describeRedisTarget, redisTargetVariables, type RedisTarget } from './redis-connection.js';

/** What the reporter needs of a client: its events and whether it is connected (ioredis's Redis and Cluster). */
export interface ReachabilityClient extends Pick<EventEmitter, 'on' | 'off'> {
  readonly status: string;
}

interface ReachabilityLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface RedisReachabilityOptions {
  target: RedisTarget;
  /** While Redis stays unreachable, the warning is written again this often. */
  repeatMs?: number;
}

const REPEAT_MS = 30_000;

/**
 * Whether one service reaches Redis, over all of its clients (the sweeper has three, the API two):
 * one warning line when Redis is lost, naming where the service looks for it and the variable to set,
 * the same line again every `repeatMs` while it stays lost, and one line when every client is back.
 * It takes the clients' `error` events, so no client prints its own (ioredis writes an unhandled one
 * to stderr, stack and all, between the JSON log lines). Readiness reads `problem()`.
 */
export class RedisReachability {
  private readonly logger: ReachabilityLogger;
  private readonly clients: readonly ReachabilityClient[];
  private readonly where: string;
  private readonly variables: string;
  private readonly repeatMs: number;
  private readonly detach: (() => void)[] = [];
  private lastError: string | null = null;
  private reached = false;
  private lostAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(clients: readonly ReachabilityClient[], logger: ReachabilityLogger, options: RedisReachabilityOptions) {
    this.clients = clients;
    this.logger = logger;
    this.where = describeRedisTarget(options.target);
    this.variables = redisTargetVariables(options.target);
    this.repeatMs = options.repeatMs ?? REPEAT_MS;
    for (const client of clients) {
      const onError = (error: Error) => this.lost(error.message);
      const onReady = () => this.check();
      client.on('error', onError);
      client.on('ready', onReady);
      this.detach.push(() => {
        client.off('error', onError);
        client.off('ready', onReady);
      });
    }
    this.check();
  }

  /** Every client is connected. */
  get reachable(): boolean {
    return this.clients.every((client) => client.status === 'ready');
  }

  /** Some client has been connected since start. */
  get everReached(): boolean {
    return this.reached;
  }

  /** Why Redis is not reachable, in a sentence that says what to do; null when it is. */
  problem(): string | null {
    if (this.reachable) return null;
    const cause = this.lastError === null ? 'no answer yet' : this.lastError;
    const since = this.reached ? 'is unreachable' : 'has not answered since this process started';
    return `${this.where} ${since} (${cause}): start it, or set ${this.variables}`;
  }

  /** Stops reporting (at shutdown: the clients' own disconnection is not news). */
  stop(): void {
    for (const detach of this.detach.splice(0)) detach();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private lost(message: string): void {
    this.lastError = message;
    if (this.lostAt !== null) return;
    this.lostAt = performance.now();
    this.warn();
    this.timer = setInterval(() => this.warn(), this.repeatMs);
    this.timer.unref();
  }

  private warn(): void {
    const downForS = this.lostAt === null ? 0 : Math.round((performance.now() - this.lostAt) / 1000);
    this.logger.warn({ redis: this.where, error: this.lastError, downForS }, this.problem() ?? `${this.where} is unreachable`);
  }

  private check(): void {
    if (!this.reachable) return;
    this.reached = true;
    if (this.lostAt === null) return;
    const downForS = Math.round((performance.now() - this.lostAt) / 1000);
    this.lostAt = null;
    this.lastError = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.logger.info({ redis: this.where, downForS }, `${this.where} is reachable again`);
  }
}
