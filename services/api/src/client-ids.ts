import { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '@presence/protocol';
import { z } from 'zod';

/** The message of a 400 for a malformed client id: the rule as libs/protocol states it. */
export { CLIENT_ID_RULE };
const MAX_QUERY_IDS = 1_000;
/** A client id, as every route and body takes it. */
export const clientIdSchema = z.string().regex(CLIENT_ID_PATTERN, { error: CLIENT_ID_RULE });

/** The body of POST /v1/presence/query; the first issue zod finds is the 400's message. */
export const querySchema = z
  .object({
    clientIds: z.array(clientIdSchema).min(1, { error: 'must list 1 to 1000 client ids' }).max(MAX_QUERY_IDS, {
      error: 'must list 1 to 1000 client ids',
    }),
  })
  .meta({ id: 'PresenceQuery' });

/**
 * The ids of a body that `querySchema` accepts, or null for any body it rejects (zod then says
 * why): the same rules without zod's per-element cost, which adds up on 1000 ids.
 */
export function validQueryIds(body: unknown): string[] | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const ids = (body as { clientIds?: unknown }).clientIds;
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > MAX_QUERY_IDS) return null;
  for (const id of ids as unknown[]) if (typeof id !== 'string' || !CLIENT_ID_PATTERN.test(id)) return null;
  return ids as string[];
}
