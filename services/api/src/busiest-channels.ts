import type { ChannelStore } from '@presence/presence-store';

export interface BusiestChannelsOptions {
  /** Channels asked of each GET /v1/channels-style page (ChannelStore.listChannels): at most 1000. */
  pageSize: number;
  /** Pages walked at most per ranking; the walk stops there and the ranking says it is incomplete. */
  maxPages: number;
  /** A ranking younger than this is answered again (shared by every dashboard on this replica). */
  maxAgeMs: number;
}

export const BUSIEST_DEFAULTS: BusiestChannelsOptions = {
  pageSize: 1_000,
  maxPages: 5,
  maxAgeMs: 500,
};

export interface ChannelRank {
  channel: string;
  clients: number;
  sessions: number;
}

export interface BusiestChannelsRanking {
  /** Every channel seen with members, busiest first (clients, then sessions, then name). */
  channels: ChannelRank[];
  /** Distinct channels the walk saw. */
  scanned: number;
  /** The walk saw every channel; false: the ranking is of the first `scanned` channels only. */
  complete: boolean;
}

/**
 * The dashboard's busiest channels. Redis keeps no index of channels by size (a global one can't be
 * written in a channel's script on a cluster: docs/data-model.md, "Left out"), so a ranking walks the
 * channels that have members the way GET /v1/channels does (a SCAN on every primary in turn), asks
 * their occupancy in bulk, and sorts. The walk is bounded: `maxPages` pages, each up to `pageSize`
 * channels or 50 SCAN calls of 1000 keys (listChannels' own bound): by default at most about 5000
 * channels and 250 SCAN calls. When the walk has not finished by then (more channels, or a key space
 * over ~250,000 keys), the ranking is that of the channels seen, and says so (`complete: false`).
 * One ranking serves every request for `maxAgeMs`, so the Redis work does not grow with the number
 * of open dashboards.
 */
export class BusiestChannels {
  private readonly channels: Pick<ChannelStore, 'listChannels' | 'occupancies'>;
  readonly options: BusiestChannelsOptions;
  private latest: { at: number; ranking: Promise<BusiestChannelsRanking> } | null = null;

  constructor(channels: Pick<ChannelStore, 'listChannels' | 'occupancies'>, options: Partial<BusiestChannelsOptions> = {}) {
    this.channels = channels;
    this.options = { ...BUSIEST_DEFAULTS, ...options };
  }

  /** The `limit` busiest channels, with how far the walk went. */
  async top(limit: number): Promise<BusiestChannelsRanking> {
    const ranking = await this.ranking();
    return { ...ranking, channels: ranking.channels.slice(0, limit) };
  }

  private ranking(): Promise<BusiestChannelsRanking> {
    const now = Date.now();
    if (this.latest !== null && now - this.latest.at < this.options.maxAgeMs) return this.latest.ranking;
    const ranking = this.rank();
    const latest = { at: now, ranking };
    this.latest = latest;
    // A failed ranking is not served again.
    ranking.catch(() => {
      if (this.latest === latest) this.latest = null;
    });
    return ranking;
  }

  private async rank(): Promise<BusiestChannelsRanking> {
    const { pageSize, maxPages } = this.options;
    // A Set: SCAN may return a channel twice when Redis rehashes during the walk.
    const names = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await this.channels.listChannels('', cursor, pageSize);
      for (const name of page.channels) names.add(name);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < maxPages);

    const list = [...names];
    const ranked: ChannelRank[] = [];
    // Occupancy in bulk, at most a page at a time (one pipeline each on a single Redis).
    for (let i = 0; i < list.length; i += pageSize) {
      const chunk = list.slice(i, i + pageSize);
      const occupancies = await this.channels.occupancies(chunk);
      chunk.forEach((channel, j) => {
        const occupancy = occupancies[j];
        // A channel emptied since the walk saw it is not busy.
        if (occupancy !== undefined && occupancy.clients > 0) ranked.push({ channel, ...occupancy });
      });
    }
    ranked.sort((a, b) => b.clients - a.clients || b.sessions - a.sessions || (a.channel < b.channel ? -1 : 1));
    return { channels: ranked, scanned: names.size, complete: cursor === null };
  }
}
