import type { PresenceStore } from '@presence/presence-store';
import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';

const statsSchema = z
  .object({
    onlineClients: z.number().int(),
    sessions: z.number().int(),
    nodes: z.array(
      z.object({
        node: z.string(),
        sessions: z.number().int(),
        lastSeenAt: z.number().meta({ description: 'When the node last vouched for its sessions (ms since 1970, Redis time)' }),
        alive: z
          .boolean()
          .meta({ description: 'False once its liveness deadline passed (crashed or cut off); it stays listed for 5 minutes.' }),
      }),
    ),
  })
  .meta({ id: 'Stats' });

export const statsRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/v1/stats',
    tag: 'presence',
    auth: 'read',
    summary: 'Clients and sessions online, and the edge nodes',
    responses: { 200: { description: 'Counts over all edge nodes', schema: statsSchema } },
    errors: { 503: ['unavailable'] },
  },
];

/** GET /v1/stats. */
export function createStatsRouter(store: PresenceStore): express.Router {
  const router = express.Router();
  router.get('/v1/stats', async (_req, res) => {
    const stats = await store.stats();
    const view: z.output<typeof statsSchema> = {
      onlineClients: stats.onlineClients,
      sessions: stats.sessions,
      nodes: stats.nodes.map(({ node, sessions, lastSeenAt, alive }) => ({ node, sessions, lastSeenAt, alive })),
    };
    res.json(view);
  });
  return router;
}
