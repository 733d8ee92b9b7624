import { createHash } from 'node:crypto';
import type { Logger } from '@presence/telemetry';
import type { WebhookEndpoint, WebhookStore } from '@presence/webhooks';

export interface ConfigEndpoints {
  urls: readonly string[];
  secret: string | undefined;
  events: readonly string[];
}

/** The id of a WEBHOOK_URLS endpoint: from its URL, so it keeps its queue and dead letters across restarts. */
export function configEndpointId(url: string): string {
  return `cfg_${createHash('sha256').update(url).digest('hex').slice(0, 16)}`;
}

/**
 * Makes the registry's WEBHOOK_URLS endpoints (source `config`) what this replica's settings say:
 * adds the new ones, updates a changed secret or event list, removes those no longer listed (with
 * what was queued for them). Replicas started with the same settings agree; with different ones (a
 * rolling change of WEBHOOK_URLS) the last one started wins.
 */
export async function syncConfigEndpoints(store: WebhookStore, wanted: ConfigEndpoints, logger: Logger): Promise<void> {
  const existing = (await store.listEndpoints()).filter((endpoint) => endpoint.source === 'config');
  const ids = new Set<string>();
  for (const url of wanted.urls) {
    const id = configEndpointId(url);
    ids.add(id);
    const fields = {
      url,
      secret: wanted.secret ?? '',
      events: [...wanted.events],
      filter: { clientIdPrefixes: [], channels: [] },
      description: 'WEBHOOK_URLS',
    };
    const current = existing.find((endpoint) => endpoint.id === id);
    if (current === undefined) {
      await store.createEndpoint({ id, source: 'config', ...fields }).catch((error: unknown) => {
        // Another replica starting at the same time added it.
        if ((error as { code?: string }).code !== 'endpoint_exists') throw error;
      });
      logger.info({ endpoint: id, url }, 'webhook endpoint from WEBHOOK_URLS registered');
    } else if (current.secret !== fields.secret || current.events.join(',') !== fields.events.join(',')) {
      const updated: WebhookEndpoint = { ...current, ...fields };
      await store.replaceEndpoint(updated);
      logger.info({ endpoint: id, url }, 'webhook endpoint from WEBHOOK_URLS updated');
    }
  }
  for (const endpoint of existing) {
    if (ids.has(endpoint.id)) continue;
    await store.deleteEndpoint(endpoint.id);
    logger.info({ endpoint: endpoint.id, url: endpoint.url }, 'webhook endpoint no longer in WEBHOOK_URLS removed');
  }
}
