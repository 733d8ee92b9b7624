import type { PresenceStore } from '@presence/presence-store';
import express from 'express';
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { bearerAuth } from '../bearer-auth.js';

export interface MetricsRouterDeps {
  store: PresenceStore;
  registry: Registry;
  /** Bearer tokens accepted on /metrics; empty: open. */
  metricsTokens: readonly string[];
}

export const metricsRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    auth: 'metrics',
    summary: 'Prometheus metrics',
    description: 'The process metrics, and presence gauges read from Redis at each scrape (left out while Redis is out of reach).',
    responses: { 200: { description: 'Prometheus text exposition format', schema: z.string(), contentType: 'text/plain; version=0.0.4' } },
  },
];

/** GET /metrics: the registry, with the presence gauges refreshed from Redis at each scrape. */
export function createMetricsRouter(deps: MetricsRouterDeps): express.Router {
  const { store, registry } = deps;
  const registers = [registry];
  const online = new Gauge({ name: 'presence_online_clients', help: 'Clients online (all nodes)', registers });
  const sessions = new Gauge({ name: 'presence_sessions', help: 'Live sessions (all nodes)', registers });
  const nodeSessions = new Gauge({ name: 'presence_node_sessions', help: 'Sessions per edge node', labelNames: ['node'], registers });
  // A node that shuts down removes itself; one that dies (or is cut off from Redis) stays "dead" for 5 minutes.
  const nodes = new Gauge({ name: 'presence_nodes', help: 'Edge nodes known to Redis, alive or dead', labelNames: ['state'], registers });

  const router = express.Router();
  router.get('/metrics', bearerAuth(deps.metricsTokens, 'metrics'), async (_req, res) => {
    try {
      const stats = await store.stats();
      online.set(stats.onlineClients);
      sessions.set(stats.sessions);
      nodeSessions.reset();
      for (const node of stats.nodes) if (node.alive) nodeSessions.set({ node: node.node }, node.sessions);
      const alive = stats.nodes.filter((node) => node.alive).length;
      nodes.set({ state: 'alive' }, alive);
      nodes.set({ state: 'dead' }, stats.nodes.length - alive);
    } catch {
      // Redis down: the process metrics are still worth scraping.
    }
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}
