import type { ChannelMembersPage } from '@presence/client';
import { apiClient, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';
import { formatTime, renderTable, truncate } from './format.js';

export interface ChannelOptions extends ApiOptions {
  limit: number;
  cursor?: string;
  all?: boolean;
  state?: boolean;
}

/**
 * `presence channel <name>`: the channel's occupancy, then its members, one row per session (client,
 * node, joined at, and with --state the session's channel state). One page unless --all.
 */
export async function runChannel(channel: string, options: ChannelOptions, deps: CliDeps): Promise<void> {
  const http = apiClient(options, deps);
  const pages: ChannelMembersPage[] = [];
  let cursor = options.cursor ?? null;
  do {
    const page = await http.members(channel, { limit: options.limit, cursor, ...(options.state === true ? { state: true } : {}) });
    pages.push(page);
    cursor = page.nextCursor;
  } while (options.all === true && cursor !== null);
  const last = pages[pages.length - 1] as ChannelMembersPage;
  const members = pages.flatMap((page) => page.members);
  if (options.json) {
    deps.out(
      `${JSON.stringify({ channel, clients: last.clients, sessions: last.sessions, members, nextCursor: last.nextCursor }, null, 2)}\n`,
    );
    return;
  }
  deps.out(
    `${channel}: ${last.clients} ${last.clients === 1 ? 'client' : 'clients'}, ${last.sessions} ${last.sessions === 1 ? 'session' : 'sessions'}\n`,
  );
  if (members.length === 0) return;
  const rows = members.flatMap((member) =>
    member.sessions.map((session) => {
      const row = [member.clientId, session.node, formatTime(session.joinedAt), session.sessionId];
      if (options.state === true) row.push(session.state == null ? '-' : truncate(JSON.stringify(session.state), 48));
      return row;
    }),
  );
  const header = ['CLIENT', 'NODE', 'JOINED', 'SESSION', ...(options.state === true ? ['STATE'] : [])];
  deps.out(renderTable(header, rows));
  if (last.nextCursor !== null) deps.err(`presence: more members: --cursor ${last.nextCursor} (or --all)\n`);
}
