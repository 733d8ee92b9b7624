import type { ListPage } from '@presence/client';
import { apiClient, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';

export interface ListOptions extends ApiOptions {
  limit: number;
  cursor?: string;
  all?: boolean;
}

/** `presence list`: online client ids, one per line (a page, or every page with --all). */
export async function runList(options: ListOptions, deps: CliDeps): Promise<void> {
  const http = apiClient(options, deps);
  let page: ListPage;
  if (options.all) {
    const clients: string[] = [];
    for await (const each of http.pages({ limit: options.limit, cursor: options.cursor ?? null })) clients.push(...each.clients);
    page = { clients, nextCursor: null };
  } else {
    page = await http.list({ limit: options.limit, cursor: options.cursor ?? null });
  }
  if (options.json) {
    deps.out(`${JSON.stringify(page, null, 2)}\n`);
    return;
  }
  if (page.clients.length > 0) deps.out(`${page.clients.join('\n')}\n`);
  if (page.nextCursor !== null) {
    deps.err(`presence: more clients are online; next page: presence list --cursor '${page.nextCursor}' (or --all)\n`);
  } else if (page.clients.length === 0 && options.cursor === undefined) {
    deps.err('presence: no client is online\n');
  }
}
