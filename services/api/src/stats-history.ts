import type { KeySpace, PresenceStore } from '@presence/presence-store';
import type { Logger } from '@presence/telemetry';
import { streamFieldMap } from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';

/** One point of the dashboard's chart. */
export interface StatsSample {
  /** Start of the interval it stands for (ms, Redis time). */
  at: number;
  onlineClients: number;
  sessions: number;
}

export interface StatsHistoryOptions {
  /** One sample per this many ms. */
  intervalMs: number;
  /** Samples older than this are trimmed. */
  keepMs: number;
}

/** Redis refuses an XADD whose id is not above the stream's last: here, another replica sampled first. */
const TAKEN = /equal or smaller than the target stream top item/;

/**
 * The history behind the dashboard's chart, kept in Redis so that every API replica shows the same
 * one (docs/data-model.md, "Dashboard samples"). Every replica tries to sample twice per interval;
 * the stream entry's id is the interval's start (`<ms>-0`, from Redis time), so the first XADD of an
 * interval wins and the others are refused by Redis itself: one sample per interval however many
 * replicas run, and none missing while one runs. A replica that finds the interval sampled skips
 * counting.
 */
export class StatsHistory {
  private readonly redis: Redis | Cluster;
  private readonly store: Pick<PresenceStore, 'stats' | 'now'>;
  private readonly key: string;
  private readonly logger: Logger;
  readonly options: StatsHistoryOptions;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    redis: Redis | Cluster,
    store: Pick<PresenceStore, 'stats' | 'now'>,
    keys: KeySpace,
    logger: Logger,
    options: StatsHistoryOptions,
  ) {
    this.redis = redis;
    this.store = store;
    this.key = keys.statsSamples;
    this.logger = logger;
    this.options = options;
  }

  start(): void {
    const tick = () =>
      void this.sample().catch((error: unknown) =>
        this.logger.debug({ err: error }, 'taking a stats sample failed; the next tick tries again'),
      );
    tick();
    this.timer = setInterval(tick, Math.max(1, Math.floor(this.options.intervalMs / 2)));
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Samples the current interval unless it has been: true when this call wrote the sample. */
  async sample(): Promise<boolean> {
    const [now, last] = await Promise.all([this.store.now(), this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1)]);
    const slot = now - (now % this.options.intervalMs);
    const lastId = last[0]?.[0];
    if (lastId !== undefined && Number(lastId.slice(0, lastId.indexOf('-'))) >= slot) return false;
    const stats = await this.store.stats();
    try {
      await this.redis.xadd(
        this.key,
        'MINID',
        String(slot - this.options.keepMs),
        `${slot}-0`,
        'onlineClients',
        stats.onlineClients,
        'sessions',
        stats.sessions,
      );
      return true;
    } catch (error) {
      if (error instanceof Error && TAKEN.test(error.message)) return false;
      throw error;
    }
  }

  /** The samples of the last `keepMs`, oldest first. */
  async read(): Promise<StatsSample[]> {
    const now = await this.store.now();
    const entries = await this.redis.xrange(this.key, String(now - this.options.keepMs), '+');
    return entries.map(([id, fields]) => {
      const values = streamFieldMap(fields);
      return {
        at: Number(id.slice(0, id.indexOf('-'))),
        onlineClients: Number(values.get('onlineClients') ?? 0),
        sessions: Number(values.get('sessions') ?? 0),
      };
    });
  }
}
