import type { ClientPresence } from '@presence/client';
import { apiClient, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';
import { formatTime, renderTable, truncate } from './format.js';

/** Requests in flight at once when asking about many clients. */
const CONCURRENCY = 8;

/** `presence status <clientId...>`: each client's presence; SINCE is when it came online, or when it was last seen. */
export async function runStatus(clientIds: string[], options: ApiOptions, deps: CliDeps): Promise<void> {
  const http = apiClient(options, deps);
  const results = new Array<ClientPresence>(clientIds.length);
  let next = 0;
  const worker = async () => {
    while (next < clientIds.length) {
      const index = next++;
      results[index] = await http.get(clientIds[index] as string);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, clientIds.length) }, worker));
  if (options.json) {
    deps.out(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const rows = results.map((p) => {
    const newest = [...p.sessions].sort((a, b) => b.connectedAt - a.connectedAt)[0];
    const since = p.online ? formatTime(p.onlineSince) : p.lastSeenAt === null ? 'never seen' : formatTime(p.lastSeenAt);
    const nodes = [...new Set(p.sessions.map((s) => s.node))].join(',') || '-';
    const state = newest?.meta == null ? '-' : truncate(JSON.stringify(newest.meta), 48);
    return [p.clientId, p.online ? 'online' : 'offline', since, String(p.sessions.length), nodes, state];
  });
  deps.out(renderTable(['CLIENT', 'STATUS', 'SINCE', 'SESSIONS', 'NODES', 'STATE'], rows));
}
