import type {
  ChannelEvent,
  ChannelEventType,
  ChannelMembersPage,
  ChannelOccupancy,
  ClientPresence,
  ListPage,
  PresenceStats,
  QueryResult,
} from './api-types.js';
import { apiRequest, type ApiTarget } from './api-request.js';
import { DEFAULTS } from './defaults.js';
import { PresenceApiError } from './errors.js';
import { EventStream, type EventStreamOptions } from './event-stream.js';

export interface HttpClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Bearer token for /v1/* (the API's `API_TOKENS`). */
  token?: string;
  /** Per request; the event stream has its own idle timeout instead. */
  timeoutMs?: number;
}

export interface ListOptions {
  cursor?: string | null;
  /** 1 to 1000; the API's default is 100. */
  limit?: number;
}

export function createHttpClient(options: HttpClientOptions): PresenceHttpClient {
  return new PresenceHttpClient(options);
}

/** A typed client of the HTTP API (README, "HTTP API"). Every failure is a PresenceApiError with a `code`. */
export class PresenceHttpClient {
  readonly baseUrl: string;
  private readonly target: ApiTarget;
  private readonly timeoutMs: number;

  constructor(options: HttpClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new PresenceApiError('bad_argument', `not a URL: ${JSON.stringify(options.baseUrl)}`, null);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PresenceApiError('bad_argument', `the API URL must be http: or https: (got ${JSON.stringify(options.baseUrl)})`, null);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.target = { baseUrl: this.baseUrl, token: options.token ?? null };
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.httpTimeoutMs;
  }

  /** One client's presence with its sessions. */
  get(clientId: string): Promise<ClientPresence> {
    return apiRequest(this.target, this.timeoutMs, 'GET', `/v1/presence/${encodeURIComponent(clientId)}`);
  }

  /** Online and last-seen of up to 1000 clients, in the order asked. */
  async query(clientIds: readonly string[]): Promise<QueryResult[]> {
    const body = await apiRequest<{ results: QueryResult[] }>(this.target, this.timeoutMs, 'POST', '/v1/presence/query', { clientIds });
    return body.results;
  }

  /** One page of online client ids, in id order. */
  list(options: ListOptions = {}): Promise<ListPage> {
    const params = new URLSearchParams();
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    if (options.cursor !== undefined && options.cursor !== null) params.set('cursor', options.cursor);
    const query = params.toString() === '' ? '' : `?${params.toString()}`;
    return apiRequest(this.target, this.timeoutMs, 'GET', `/v1/presence${query}`);
  }

  /** Every page of online client ids, from `cursor` (or the start) to the end. */
  async *pages(options: ListOptions = {}): AsyncGenerator<ListPage, void, undefined> {
    let cursor = options.cursor ?? null;
    do {
      const page = await this.list({ cursor, ...(options.limit !== undefined ? { limit: options.limit } : {}) });
      yield page;
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  stats(): Promise<PresenceStats> {
    return apiRequest(this.target, this.timeoutMs, 'GET', '/v1/stats');
  }

  /** A channel's occupancy. */
  channel(channel: string): Promise<{ channel: string } & ChannelOccupancy> {
    return apiRequest(this.target, this.timeoutMs, 'GET', `/v1/channels/${encodeURIComponent(channel)}`);
  }

  /** One page of a channel's members with their sessions, in clientId order. */
  members(channel: string, options: ListOptions & { state?: boolean } = {}): Promise<ChannelMembersPage> {
    const params = new URLSearchParams();
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    if (options.cursor !== undefined && options.cursor !== null) params.set('cursor', options.cursor);
    if (options.state === true) params.set('state', '1');
    const query = params.toString() === '' ? '' : `?${params.toString()}`;
    return apiRequest(this.target, this.timeoutMs, 'GET', `/v1/channels/${encodeURIComponent(channel)}/members${query}`);
  }

  /** Occupancy of up to 1000 channels, in the order asked. */
  async occupancy(channels: readonly string[]): Promise<({ channel: string } & ChannelOccupancy)[]> {
    const body = await apiRequest<{ channels: ({ channel: string } & ChannelOccupancy)[] }>(
      this.target,
      this.timeoutMs,
      'POST',
      '/v1/channels/occupancy',
      { channels },
    );
    return body.channels;
  }

  /** One page of the channels that have members now, by name prefix (a short page may still have a next one). */
  listChannels(options: ListOptions & { prefix?: string } = {}): Promise<{ channels: string[]; nextCursor: string | null }> {
    const params = new URLSearchParams();
    if (options.prefix !== undefined) params.set('prefix', options.prefix);
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    if (options.cursor !== undefined && options.cursor !== null) params.set('cursor', options.cursor);
    const query = params.toString() === '' ? '' : `?${params.toString()}`;
    return apiRequest(this.target, this.timeoutMs, 'GET', `/v1/channels${query}`);
  }

  /** The channels a client is in (where_now). */
  async channelsOf(clientId: string): Promise<string[]> {
    const body = await apiRequest<{ channels: string[] }>(
      this.target,
      this.timeoutMs,
      'GET',
      `/v1/presence/${encodeURIComponent(clientId)}/channels`,
    );
    return body.channels;
  }

  /** Channel events (join, leave, update) of up to 50 channels over SSE, resumed like `events`. */
  channelEvents(
    options: Omit<EventStreamOptions, 'baseUrl' | 'token' | 'channels' | 'types'> & {
      channels: readonly string[];
      types?: readonly ChannelEventType[];
    },
  ): EventStream<ChannelEvent> {
    return new EventStream<ChannelEvent>({
      ...options,
      baseUrl: this.baseUrl,
      ...(this.target.token !== null ? { token: this.target.token } : {}),
    });
  }

  /** Presence events over SSE, resumed across drops and API restarts (see EventStream). */
  events(options: Omit<EventStreamOptions, 'baseUrl' | 'token'> = {}): EventStream {
    return new EventStream({ ...options, baseUrl: this.baseUrl, ...(this.target.token !== null ? { token: this.target.token } : {}) });
  }
}
