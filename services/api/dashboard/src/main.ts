import { ApiError, Unauthorized, api, saveToken, savedToken } from './api.js';
import type {
  BusiestChannels,
  ChannelOccupancy,
  ClientChannels,
  ClientPresence,
  History,
  Nodes,
  NodeRow,
  Settings,
  Stats,
  WebhookRow,
} from './api.js';
import { HistoryChart } from './chart.js';
import './style.css';
import { byId, duration, el, utc } from './dom.js';
import { Feed, isChannelEvent } from './feed.js';

/** How often each part refreshes. The counts also refresh right after an event. */
const STATS_MS = 1_000;
const NODES_MS = 2_000;
const WEBHOOKS_MS = 2_000;
/** The busiest channels: the API reuses a ranking for 500 ms, so this is at most 1.5 s behind. */
const CHANNELS_MS = 1_000;
const BUSIEST_SHOWN = 10;

const status = byId('status');
const login = byId<HTMLFormElement>('login');
const main = byId('main');
const signOut = byId<HTMLButtonElement>('sign-out');

function setStatus(text: string, kind: 'ok' | 'warn' | 'error'): void {
  status.textContent = text;
  status.className = `status ${kind}`;
}

/** Shows the token form; `message` says why (a refused token is forgotten). */
function showLogin(message: string): void {
  if (message !== '') saveToken(null);
  stop();
  main.hidden = true;
  signOut.hidden = true;
  login.hidden = false;
  byId('login-error').textContent = message;
  setStatus('token required', 'warn');
  byId<HTMLInputElement>('token-input').focus();
}

/** Runs `task` now and every `ms` while the dashboard is shown; a refused token sends the operator back to the login. */
const timers: number[] = [];
function every(ms: number, task: () => Promise<void>): () => void {
  let running = false;
  const run = () => {
    if (running) return;
    running = true;
    void task()
      .catch((error: unknown) => {
        if (error instanceof Unauthorized) showLogin('The API refused the token; enter it again.');
        else setStatus(`API error: ${error instanceof Error ? error.message : String(error)}`, 'error');
      })
      .finally(() => (running = false));
  };
  run();
  timers.push(window.setInterval(run, ms));
  return run;
}

function stop(): void {
  for (const timer of timers.splice(0)) window.clearInterval(timer);
  feed.close();
}

// ---- the parts ----

async function refreshStats(): Promise<void> {
  const stats = await api<Stats>('/v1/stats');
  byId('online-clients').textContent = String(stats.onlineClients);
  byId('sessions').textContent = String(stats.sessions);
}

async function refreshNodes(): Promise<void> {
  const nodes = await api<Nodes>('/v1/dashboard/nodes');
  const alive = (list: NodeRow[]) => `${list.filter((node) => node.alive).length} / ${list.length}`;
  byId('edges-alive').textContent = alive(nodes.edges);
  byId('sweepers-alive').textContent = alive(nodes.sweepers);
  const row = (kind: 'edge' | 'sweeper', node: NodeRow) =>
    el(
      'tr',
      { 'data-node': node.node, class: node.alive ? '' : 'dead' },
      el('td', {}, kind),
      el('td', { class: 'mono' }, node.node),
      el('td', { class: 'num' }, kind === 'edge' ? String(node.sessions) : '–'),
      el('td', {}, el('span', { class: `badge ${node.alive ? 'online' : 'offline'}` }, node.alive ? 'yes' : 'no')),
      el('td', {}, `${duration(nodes.now - node.lastSeenAt)} ago`),
      el('td', { class: 'mono' }, node.version ?? '–'),
      el('td', {}, utc(node.startedAt)),
    );
  byId('nodes-body').replaceChildren(
    ...nodes.edges.map((node) => row('edge', node)),
    ...nodes.sweepers.map((node) => row('sweeper', node)),
  );
}

const chart = new HistoryChart();
async function refreshHistory(): Promise<void> {
  chart.update(await api<History>('/v1/dashboard/history'));
}

async function refreshWebhooks(): Promise<void> {
  const { webhooks } = await api<{ webhooks: WebhookRow[] }>('/v1/dashboard/webhooks');
  const rows = webhooks.map((hook) =>
    el(
      'tr',
      { 'data-webhook': hook.id, class: hook.deadLetters > 0 ? 'warn' : '' },
      el('td', { class: 'mono' }, hook.id),
      el('td', { class: 'mono wrap' }, hook.url),
      el('td', {}, hook.events.join(', ')),
      el('td', { class: 'num' }, hook.queued),
      el('td', { class: 'num' }, hook.queued === 0 ? '–' : duration(hook.lagMs)),
      el('td', { class: 'num' }, hook.deadLetters),
    ),
  );
  if (rows.length === 0)
    rows.push(el('tr', {}, el('td', { colspan: '6', class: 'note' }, 'No endpoints (POST /v1/webhooks registers one).')));
  byId('webhooks-body').replaceChildren(...rows);
}

async function refreshChannels(): Promise<void> {
  const busiest = await api<BusiestChannels>(`/v1/dashboard/channels?limit=${BUSIEST_SHOWN}`);
  const rows = busiest.channels.map((channel) => el('tr', { 'data-channel': channel.channel }, ...channelCells(channel)));
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colspan: '3', class: 'note' }, 'No channel has members.')));
  byId('channels-body').replaceChildren(...rows);
  const seen = `${busiest.scanned} channel${busiest.scanned === 1 ? '' : 's'} with members`;
  byId('channels-note').textContent = busiest.complete
    ? seen
    : `approximate: the busiest of the first ${seen} found (the API walks a bounded number)`;
}

/** A channel's name (click: the feed follows it), clients and sessions. */
function channelCells(channel: ChannelOccupancy): HTMLTableCellElement[] {
  return [
    el('td', { class: 'mono' }, followButton(channel.channel)),
    el('td', { class: 'num' }, channel.clients),
    el('td', { class: 'num' }, channel.sessions),
  ];
}

/** A channel name that, clicked, makes the feed follow that channel. */
function followButton(channel: string): HTMLButtonElement {
  const button = el('button', { type: 'button', class: 'link', title: "follow this channel's events in the feed" }, channel);
  button.addEventListener('click', () => feed.follow([channel]));
  return button;
}

/** `{"a":1}`, one per session when several have joined; `–` when none has a state. */
function channelStates(joined: ClientChannels['channels'][number]['joined']): string {
  const states = joined.filter((session) => session.state !== null).map((session) => JSON.stringify(session.state));
  return states.length === 0 ? '–' : states.join('\n');
}

async function lookUp(clientId: string): Promise<void> {
  lookedUp = clientId;
  const result = byId('lookup-result');
  let presence: ClientPresence;
  let channels: ClientChannels;
  try {
    [presence, channels] = await Promise.all([
      api<ClientPresence>(`/v1/presence/${encodeURIComponent(clientId)}`),
      api<ClientChannels>(`/v1/dashboard/clients/${encodeURIComponent(clientId)}/channels`),
    ]);
  } catch (error) {
    if (error instanceof ApiError) {
      result.replaceChildren(el('p', { class: 'error', role: 'alert' }, `${error.code}: ${error.message}`));
      return;
    }
    throw error;
  }
  const sessions = presence.sessions.map((session) =>
    el(
      'tr',
      {},
      el('td', { class: 'mono' }, session.sessionId),
      el('td', { class: 'mono' }, session.node),
      el('td', {}, utc(session.connectedAt)),
      el('td', {}, utc(session.lastSeenAt)),
      el('td', { class: 'mono' }, session.meta === null ? '–' : JSON.stringify(session.meta)),
    ),
  );
  result.replaceChildren(
    el(
      'dl',
      { id: 'lookup-summary', 'data-client-id': presence.clientId, 'data-online': String(presence.online) },
      el('dt', {}, 'client'),
      el('dd', { class: 'mono' }, presence.clientId),
      el('dt', {}, 'state'),
      el(
        'dd',
        {},
        el(
          'span',
          { id: 'lookup-state', class: `badge ${presence.online ? 'online' : 'offline'}` },
          presence.online ? 'online' : 'offline',
        ),
      ),
      el('dt', {}, 'online since'),
      el('dd', {}, utc(presence.onlineSince)),
      el('dt', {}, 'last seen'),
      el('dd', {}, presence.lastSeenAt === null ? 'never seen (or forgotten)' : utc(presence.lastSeenAt)),
      el('dt', {}, 'channels'),
      el('dd', { id: 'lookup-channel-count' }, String(channels.channels.length)),
    ),
    sessions.length === 0
      ? el('p', { class: 'note' }, 'No live session.')
      : el(
          'table',
          { id: 'lookup-sessions' },
          el('thead', {}, el('tr', {}, ...['session', 'node', 'connected (UTC)', 'last seen (UTC)', 'state'].map((h) => el('th', {}, h)))),
          el('tbody', {}, ...sessions),
        ),
    channels.channels.length === 0
      ? el('p', { class: 'note' }, 'In no channel.')
      : el(
          'table',
          { id: 'lookup-channels' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              el('th', {}, 'channel'),
              el('th', { class: 'num' }, 'clients'),
              el('th', { class: 'num' }, 'sessions'),
              el('th', {}, 'joined (UTC)'),
              el('th', {}, 'its state there'),
            ),
          ),
          el(
            'tbody',
            {},
            ...channels.channels.map((channel) =>
              el(
                'tr',
                { 'data-channel': channel.channel },
                ...channelCells(channel),
                el('td', {}, utc(Math.min(...channel.joined.map((session) => session.joinedAt)))),
                el('td', { class: 'mono lines' }, channelStates(channel.joined)),
              ),
            ),
          ),
        ),
  );
}

// ---- start ----

/** `run`, 100 ms after the first call of a burst: a part follows an event without waiting for its poll. */
function soon(run: () => void): () => void {
  let timer: number | null = null;
  return () => {
    timer ??= window.setTimeout(() => {
      timer = null;
      run();
    }, 100);
  };
}
let refreshCountsSoon = (): void => {};
let refreshChannelsSoon = (): void => {};
/** The client shown in the lookup box, refreshed when an event of it arrives. */
let lookedUp: string | null = null;
const feed = new Feed({
  onEvent: (event) => {
    if (isChannelEvent(event)) refreshChannelsSoon();
    else refreshCountsSoon();
    if (event.clientId === lookedUp) void lookUp(event.clientId).catch(() => {});
  },
  onStatus: (state) => {
    if (state === 'live') setStatus('live', 'ok');
    else if (state === 'reconnecting') setStatus('reconnecting…', 'warn');
    else showLogin('The API refused the token; enter it again.');
  },
  onPickClient: (clientId) => {
    byId<HTMLInputElement>('lookup-id').value = clientId;
    void lookUp(clientId).catch(() => {});
  },
});

async function show(settings: Settings): Promise<void> {
  stop();
  // One call first: a refused token goes back to the login before anything else starts.
  await refreshStats();
  login.hidden = true;
  main.hidden = false;
  signOut.hidden = savedToken() === null;
  setStatus('connecting…', 'warn');
  refreshCountsSoon = soon(every(STATS_MS, refreshStats));
  every(NODES_MS, refreshNodes);
  refreshChannelsSoon = soon(every(CHANNELS_MS, refreshChannels));
  every(WEBHOOKS_MS, refreshWebhooks);
  const history = await api<History>('/v1/dashboard/history');
  chart.update(history);
  every(Math.min(10_000, Math.max(1_000, history.intervalMs)), refreshHistory);
  feed.maxChannels = settings.maxStreamChannels;
  await feed.open();
}

async function start(): Promise<void> {
  const settings = (await (await fetch('/dashboard/settings.json', { cache: 'no-store' })).json()) as Settings;
  if (settings.authRequired && savedToken() === null) return showLogin('');
  try {
    await show(settings);
  } catch (error) {
    if (error instanceof Unauthorized) return showLogin(savedToken() === null ? '' : 'The API refused the token.');
    throw error;
  }
}

login.addEventListener('submit', (event) => {
  event.preventDefault();
  saveToken(byId<HTMLInputElement>('token-input').value.trim());
  byId<HTMLInputElement>('token-input').value = '';
  void start().catch((error: unknown) => setStatus(`cannot start: ${String(error)}`, 'error'));
});

signOut.addEventListener('click', () => {
  saveToken(null);
  showLogin('');
});

byId<HTMLFormElement>('lookup-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const clientId = byId<HTMLInputElement>('lookup-id').value.trim();
  if (clientId !== '') void lookUp(clientId).catch((error: unknown) => setStatus(`lookup failed: ${String(error)}`, 'error'));
});

void start().catch((error: unknown) => setStatus(`cannot reach the API: ${String(error)}`, 'error'));
