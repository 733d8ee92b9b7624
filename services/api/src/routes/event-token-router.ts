import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { ACCESS_TOKEN_PARAM, type EventTokens } from '../event-token.js';

const eventTokenSchema = z
  .object({
    token: z.string().meta({ description: `Pass it as \`${ACCESS_TOKEN_PARAM}\` on GET /v1/events (and nowhere else).` }),
    expiresAt: z.number().meta({ description: 'When it stops opening streams (ms since 1970); a stream opened before runs on.' }),
  })
  .meta({ id: 'EventToken' });

export const eventTokenRoutes: readonly ApiRoute[] = [
  {
    method: 'post',
    path: '/v1/events/token',
    tag: 'events',
    auth: 'read',
    summary: 'A short-lived query token for the event stream, for clients that cannot send headers (EventSource)',
    description:
      `Trades the bearer token for a JWT that opens GET /v1/events?${ACCESS_TOKEN_PARAM}=<token> for EVENT_TOKEN_TTL_MS (60 s), ` +
      'and no other route. With API_TOKENS unset nothing checks it.',
    responses: { 200: { description: 'The token', schema: eventTokenSchema } },
  },
];

/** POST /v1/events/token (behind the /v1 bearer check). */
export function createEventTokenRouter(tokens: EventTokens): express.Router {
  const router = express.Router();
  router.post('/v1/events/token', async (_req, res) => {
    const minted: z.output<typeof eventTokenSchema> = await tokens.mint();
    res.set('cache-control', 'no-store');
    res.json(minted);
  });
  return router;
}
