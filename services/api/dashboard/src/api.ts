/**
 * The page's calls to the API, on the page's own origin. With API_TOKENS set, every call carries the
 * token the operator typed, which is kept in this tab's sessionStorage only.
 */

const TOKEN_KEY = 'presence.dashboard.token';

/** The API refused the token (or asked for one). */
export class Unauthorized extends Error {}

/** An error answer: `{"error": {"code", "message"}}` with its status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const token = savedToken();
  const headers = new Headers(init.headers);
  headers.set('accept', 'application/json');
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the API refused the token');
  const body: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${res.status}`);
  }
  return body as T;
}

// The answers the page reads (README, HTTP API and Dashboard).

export interface Stats {
  onlineClients: number;
  sessions: number;
}

export interface NodeRow {
  node: string;
  sessions: number;
  startedAt: number;
  lastSeenAt: number;
  version: string | null;
  alive: boolean;
}

export interface Nodes {
  edges: NodeRow[];
  sweepers: NodeRow[];
  now: number;
}

export interface History {
  intervalMs: number;
  keepMs: number;
  samples: { at: number; onlineClients: number; sessions: number }[];
}

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  queued: number;
  deadLetters: number;
  lagMs: number;
}

export interface Session {
  sessionId: string;
  node: string;
  connectedAt: number;
  lastSeenAt: number;
  meta: Record<string, unknown> | null;
}

export interface ClientPresence {
  clientId: string;
  online: boolean;
  onlineSince: number | null;
  sessions: Session[];
  lastSeenAt: number | null;
}

export interface ChannelOccupancy {
  channel: string;
  clients: number;
  sessions: number;
}

/** GET /v1/dashboard/channels. */
export interface BusiestChannels {
  channels: ChannelOccupancy[];
  scanned: number;
  complete: boolean;
}

/** GET /v1/dashboard/clients/:clientId/channels. */
export interface ClientChannels {
  clientId: string;
  channels: (ChannelOccupancy & {
    joined: { sessionId: string; node: string; joinedAt: number; state: Record<string, unknown> | null }[];
  })[];
}

/** Whether this API wants a token, and the event feed's channel limit (GET /dashboard/settings.json, open: it says nothing else). */
export interface Settings {
  authRequired: boolean;
  maxStreamChannels: number;
}
