import type { Logger } from '@presence/telemetry';
import type { Cluster, Redis } from 'ioredis';

export interface RedisContactOptions {
  /** How long expiry is held off after contact comes back (edges need this long to renew deadlines). */
  holdoffMs: number;
  probeMs: number;
}

/**
 * Decides whether expiring sessions is safe right now. After any outage that may have kept edge
 * nodes from renewing their deadlines, every deadline in Redis may have passed although the edges
 * and their clients are fine; sweeping then would "expire the world". So expiry is held off while
 * no probe has been answered for 3 probe periods (Redis paused, unreachable, or failing over: a
 * probe then waits in the client's queue rather than failing), and for `holdoffMs` after:
 *   - this sweeper regained Redis after losing it (a probe failed),
 *   - Redis answered after a stall (no successful probe for 3 probe periods: paused, overloaded),
 *   - Redis restarted or failed over (its run_id changed: a promoted replica is another process;
 *     or its uptime is shorter than the hold-off), which covers a restart too quick for a probe to
 *     fail, and a sweeper started just after a restart.
 * The edges, for their part, renew all deadlines as soon as they reconnect (and register again what
 * an empty Redis lost), well within the hold-off.
 */
export class RedisContact {
  private readonly redis: Redis | Cluster;
  private readonly logger: Logger;
  private readonly options: RedisContactOptions;
  private holdUntil = 0;
  /** When a probe was last answered (monotonic ms), null before the first. */
  private lastSuccess: number | null = null;
  private lost = false;
  private runIds = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  holdoffs = 0;

  constructor(redis: Redis | Cluster, logger: Logger, options: RedisContactOptions) {
    this.redis = redis;
    this.logger = logger;
    this.options = options;
  }

  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.options.probeMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** Milliseconds expiry must still wait; 0 when sweeping is safe. */
  holdingFor(): number {
    const now = performance.now();
    if (this.lost) return this.options.holdoffMs;
    // A probe still waiting: Redis is away or stalled right now, before any probe could say so.
    // (An earlier hold-off can run out meanwhile, and a sweep sent then would reach a Redis that is
    // back, or a newly promoted replica, before the edges have renewed anything there.)
    if (this.lastSuccess !== null && now - this.lastSuccess > 3 * this.options.probeMs) return this.options.holdoffMs;
    return Math.max(0, this.holdUntil - now);
  }

  /** Something else saw Redis answer late (a sweep that waited through an outage): hold off expiry. */
  reportStall(reason: string): void {
    this.hold(reason, this.options.holdoffMs);
  }

  private hold(reason: string, forMs: number): void {
    const until = performance.now() + forMs;
    if (until <= this.holdUntil) return;
    this.holdUntil = until;
    this.holdoffs += 1;
    this.logger.warn({ reason, holdMs: Math.round(forMs) }, 'holding off session expiry');
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const infos = await this.serverInfos();
      const now = performance.now();
      if (this.lost) {
        this.lost = false;
        this.hold('Redis is reachable again after an outage', this.options.holdoffMs);
      } else if (this.lastSuccess !== null && now - this.lastSuccess > 3 * this.options.probeMs) {
        this.hold(`Redis answered after ${Math.round(now - this.lastSuccess)} ms without a reply`, this.options.holdoffMs);
      }
      for (const [node, info] of infos) {
        const runId = /run_id:(\w+)/.exec(info)?.[1] ?? '';
        const uptimeMs = Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? '0') * 1000;
        const known = this.runIds.get(node);
        if (known !== undefined && known !== runId) this.hold(`Redis ${node} restarted`, this.options.holdoffMs);
        else if (uptimeMs < this.options.holdoffMs)
          this.hold(`Redis ${node} started ${uptimeMs / 1000} s ago`, this.options.holdoffMs - uptimeMs);
        this.runIds.set(node, runId);
      }
      this.lastSuccess = now;
    } catch {
      if (!this.lost) this.logger.warn({}, 'lost contact with Redis; session expiry paused');
      this.lost = true;
    } finally {
      this.probing = false;
    }
  }

  /** `INFO server` of the one Redis, or of every master of a cluster. */
  private async serverInfos(): Promise<[string, string][]> {
    if ((this.redis as Cluster).isCluster) {
      const masters = (this.redis as Cluster).nodes('master');
      if (masters.length === 0) throw new Error('no cluster masters known');
      return Promise.all(
        masters.map(async (node) => [`${node.options.host}:${node.options.port}`, await node.info('server')] as [string, string]),
      );
    }
    return [['redis', await (this.redis as Redis).info('server')]];
  }
}
