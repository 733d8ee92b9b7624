import type { Cluster, Redis } from 'ioredis';
import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { sendError } from '../http-errors.js';

export interface HealthRouterDeps {
  redis: Redis | Cluster;
  /** True once the event hub knows where the streams end. */
  eventsReady: () => boolean;
  /** Why Redis is out of reach, naming where it is looked for and the variable to set (RedisReachability). */
  redisProblem?: () => string | null;
}

const healthSchema = z.object({ status: z.literal('ok') });
const readySchema = z.object({ status: z.literal('ready') });

export const healthRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    auth: 'none',
    summary: 'Liveness: the process answers',
    responses: { 200: { description: 'Alive', schema: healthSchema } },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    auth: 'none',
    summary: 'Readiness: Redis answered a PING and the event streams were read',
    description: 'Edges ask this as their witness (REDIS_WITNESS_URL): 200 only when Redis answered this PING.',
    responses: { 200: { description: 'Ready', schema: readySchema } },
    errors: { 503: ['not_ready'] },
  },
];

/** GET /healthz and /readyz. */
export function createHealthRouter(deps: HealthRouterDeps): express.Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' } satisfies z.output<typeof healthSchema>);
  });
  router.get('/readyz', async (_req, res) => {
    try {
      await deps.redis.ping();
    } catch (error) {
      const problem = deps.redisProblem?.() ?? null;
      sendError(res, 503, 'not_ready', problem ?? `Redis did not answer a PING: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (!deps.eventsReady()) {
      sendError(res, 503, 'not_ready', 'the event streams have not been read yet (the event hub reads where they end once Redis answers)');
      return;
    }
    res.json({ status: 'ready' } satisfies z.output<typeof readySchema>);
  });
  return router;
}
