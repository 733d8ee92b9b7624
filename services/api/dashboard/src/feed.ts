import { CHANNEL_RULE, isValidChannel } from '@presence/protocol';
import type { ChannelEvent, ChannelEventType, EventType, PresenceEvent } from '@presence/wire-format';
import { Unauthorized, api } from './api.js';
import { byId, el, utcTime } from './dom.js';

/** Event types the filter offers: the SSE event names (`event:` lines) of the client stream and of the channel stream. */
const CLIENT_TYPES = ['online', 'offline'] as const satisfies readonly EventType[];
const CHANNEL_TYPES = ['join', 'leave', 'update'] as const satisfies readonly ChannelEventType[];
/** Rows kept (and shown, filtered) in the feed. */
const KEEP = 500;
/** Events held while paused; beyond it the oldest are dropped and counted. */
const HOLD = 10_000;

/** A client event (online, offline) or, while the feed follows channels, a channel event (join, leave, update). */
export type FeedEvent = PresenceEvent | ChannelEvent;

export const isChannelEvent = (event: FeedEvent): event is ChannelEvent => 'channel' in event;

export interface FeedHandlers {
  /** Every event as it arrives (also while paused): the counts refresh on it. */
  onEvent(event: FeedEvent): void;
  onStatus(status: 'live' | 'reconnecting' | 'unauthorized'): void;
  /** A click on a client id in the feed. */
  onPickClient(clientId: string): void;
}

/**
 * The event feed: GET /v1/events as Server-Sent Events, the client events, or with channels named in
 * its channel filter those channels' events (`channels=`). EventSource cannot send an Authorization
 * header, so each (re)connection first trades the bearer token for a short-lived query token
 * (POST /v1/events/token) and passes it as `access_token`; a dropped stream is reopened with a new
 * one and `after=<last id>`, so no event is lost or repeated. The channel filter picks the stream:
 * changing it starts the feed afresh with what those channels' streams still hold (`after=0`, about
 * the last 1000 events of each), then their live events; the type and client filters and pause act
 * on the view only.
 */
export class Feed {
  /** How many channels the stream may follow (GET /dashboard/settings.json says). */
  maxChannels = 50;
  private source: EventSource | null = null;
  /** Each open() and close() starts a new generation: an open() overtaken while it waited for its token gives up. */
  private generation = 0;
  private channels: string[] = [];
  private lastId: string | null = null;
  private events: FeedEvent[] = [];
  private held: FeedEvent[] = [];
  private droppedWhilePaused = 0;
  private paused = false;
  private reopenTimer: number | null = null;
  private readonly handlers: FeedHandlers;
  private readonly table = byId<HTMLTableElement>('feed-table');
  private readonly body = byId<HTMLTableSectionElement>('feed-body');
  private readonly typeFilter = byId<HTMLSelectElement>('feed-type');
  private readonly clientFilter = byId<HTMLInputElement>('feed-client');
  private readonly channelFilter = byId<HTMLInputElement>('feed-channels');
  private readonly channelError = byId('feed-channels-error');
  private readonly pauseButton = byId<HTMLButtonElement>('feed-pause');
  private readonly state = byId('feed-state');

  constructor(handlers: FeedHandlers) {
    this.handlers = handlers;
    this.setTypes(CLIENT_TYPES);
    this.typeFilter.addEventListener('change', () => this.render());
    this.clientFilter.addEventListener('input', () => this.render());
    // `change`: on Enter or when the field loses focus, not at every key (each change reopens the stream).
    this.channelFilter.addEventListener('change', () => this.applyChannelFilter());
    this.pauseButton.addEventListener('click', () => (this.paused ? this.resume() : this.pause()));
  }

  /** Follows these channels' events (none: the client events), as if typed into the channel filter. */
  follow(channels: readonly string[]): void {
    this.channelFilter.value = channels.join(', ');
    this.applyChannelFilter();
  }

  private applyChannelFilter(): void {
    const names = [...new Set(this.channelFilter.value.split(/[\s,]+/).filter((name) => name !== ''))];
    const bad = names.find((name) => !isValidChannel(name));
    const problem =
      bad !== undefined
        ? `"${bad}": ${CHANNEL_RULE}`
        : names.length > this.maxChannels
          ? `the feed follows at most ${this.maxChannels} channels (${names.length} given)`
          : null;
    this.channelError.textContent = problem ?? '';
    this.channelError.hidden = problem === null;
    this.channelFilter.setAttribute('aria-invalid', String(problem !== null));
    if (problem !== null || names.join(',') === this.channels.join(',')) return;

    this.channels = names;
    this.lastId = null;
    this.events = [];
    this.held = [];
    this.droppedWhilePaused = 0;
    if (this.paused) this.state.textContent = 'paused: 0 new';
    this.table.classList.toggle('channel-mode', names.length > 0);
    this.setTypes(names.length > 0 ? CHANNEL_TYPES : CLIENT_TYPES);
    this.render();
    if (this.source !== null || this.reopenTimer !== null) void this.open();
  }

  private setTypes(types: readonly string[]): void {
    const selected = this.typeFilter.value;
    this.typeFilter.replaceChildren(el('option', { value: '' }, 'all'), ...types.map((type) => el('option', { value: type }, type)));
    this.typeFilter.value = types.includes(selected) ? selected : '';
  }

  async open(): Promise<void> {
    this.close();
    const generation = this.generation;
    let token: string;
    try {
      token = (await api<{ token: string }>('/v1/events/token', { method: 'POST' })).token;
    } catch (error) {
      if (generation !== this.generation) return;
      this.handlers.onStatus(error instanceof Unauthorized ? 'unauthorized' : 'reconnecting');
      this.reopenLater();
      return;
    }
    if (generation !== this.generation) return;
    const params = new URLSearchParams({ access_token: token });
    if (this.channels.length > 0) params.set('channels', this.channels.join(','));
    if (this.lastId !== null) params.set('after', this.lastId);
    else if (this.channels.length > 0) params.set('after', '0');
    const source = new EventSource(`/v1/events?${params}`);
    this.source = source;
    source.addEventListener('open', () => this.handlers.onStatus('live'));
    for (const type of this.channels.length > 0 ? CHANNEL_TYPES : CLIENT_TYPES) {
      source.addEventListener(type, (message) => {
        this.lastId = message.lastEventId;
        this.receive(JSON.parse(message.data as string) as FeedEvent);
      });
    }
    // A connection error, or the server dropping this subscriber (`event: error` with a code): open
    // again with a fresh token rather than let EventSource retry with this one, which expires.
    source.addEventListener('error', () => {
      if (this.source !== source) return;
      this.handlers.onStatus('reconnecting');
      this.reopenLater();
    });
  }

  close(): void {
    this.generation += 1;
    if (this.reopenTimer !== null) window.clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
    this.source?.close();
    this.source = null;
  }

  private reopenLater(): void {
    this.source?.close();
    this.source = null;
    if (this.reopenTimer !== null) return;
    this.reopenTimer = window.setTimeout(() => {
      this.reopenTimer = null;
      void this.open();
    }, 1_000);
  }

  private receive(event: FeedEvent): void {
    this.handlers.onEvent(event);
    if (this.paused) {
      this.held.push(event);
      if (this.held.length > HOLD) {
        this.held.shift();
        this.droppedWhilePaused += 1;
      }
      this.state.textContent = `paused: ${this.held.length} new${this.droppedWhilePaused > 0 ? ` (${this.droppedWhilePaused} older dropped)` : ''}`;
      return;
    }
    this.keep(event);
    if (this.matches(event)) {
      this.body.prepend(this.row(event));
      while (this.body.rows.length > KEEP) this.body.deleteRow(-1);
    }
  }

  private keep(event: FeedEvent): void {
    this.events.push(event);
    if (this.events.length > KEEP) this.events.shift();
  }

  pause(): void {
    this.paused = true;
    this.pauseButton.textContent = 'Resume';
    this.state.textContent = 'paused: 0 new';
  }

  resume(): void {
    this.paused = false;
    this.pauseButton.textContent = 'Pause';
    for (const event of this.held) this.keep(event);
    this.held = [];
    this.droppedWhilePaused = 0;
    this.state.textContent = '';
    this.render();
  }

  private matches(event: FeedEvent): boolean {
    const type = this.typeFilter.value;
    const prefix = this.clientFilter.value.trim();
    return (type === '' || event.type === type) && event.clientId.startsWith(prefix);
  }

  private render(): void {
    const rows = this.events.filter((event) => this.matches(event)).map((event) => this.row(event));
    this.body.replaceChildren(...rows.reverse());
  }

  private row(event: FeedEvent): HTMLTableRowElement {
    const client = el('button', { type: 'button', class: 'link', title: 'look up' }, event.clientId);
    client.addEventListener('click', () => this.handlers.onPickClient(event.clientId));
    const time = el('td', {}, utcTime(event.at));
    const type = el('td', {}, el('span', { class: `badge ${event.type}` }, event.type));
    const reason = el('td', {}, event.reason ?? '');
    const where = [el('td', {}, event.node), el('td', { class: 'mono' }, event.sessionId)];
    // The channel columns exist while the feed follows channels (index.html; the events are then all channel events).
    if (!isChannelEvent(event))
      return el(
        'tr',
        { class: `event ${event.type}`, 'data-client-id': event.clientId, 'data-type': event.type },
        time,
        type,
        el('td', {}, client),
        reason,
        ...where,
      );
    return el(
      'tr',
      { class: `event ${event.type}`, 'data-client-id': event.clientId, 'data-type': event.type, 'data-channel': event.channel },
      time,
      type,
      el('td', {}, client),
      el('td', { class: 'mono' }, event.channel),
      reason,
      el('td', { class: 'num', title: 'clients / sessions' }, `${event.occupancy.clients} / ${event.occupancy.sessions}`),
      ...where,
    );
  }
}
