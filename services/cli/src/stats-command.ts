import { apiClient, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';
import { formatTime, renderTable } from './format.js';

/** `presence stats`: cluster-wide counts and the edge nodes. */
export async function runStats(options: ApiOptions, deps: CliDeps): Promise<void> {
  const stats = await apiClient(options, deps).stats();
  if (options.json) {
    deps.out(`${JSON.stringify(stats, null, 2)}\n`);
    return;
  }
  const totals = renderTable(
    ['ONLINE CLIENTS', 'SESSIONS', 'NODES'],
    [[String(stats.onlineClients), String(stats.sessions), String(stats.nodes.length)]],
  );
  const nodes = renderTable(
    ['NODE', 'SESSIONS', 'ALIVE', 'LAST SEEN'],
    stats.nodes.map((n) => [n.node, String(n.sessions), n.alive ? 'yes' : 'no', formatTime(n.lastSeenAt)]),
  );
  deps.out(stats.nodes.length === 0 ? totals : `${totals}\n${nodes}`);
}
