import { randomBytes } from 'node:crypto';
import type { PresenceStore, SessionRef, WriteOp } from '@presence/presence-store';

/**
 * Registers `count` sessions straight through the store's own scripts, 2,000 per call, as
 * `${prefix}${i}` on `node` with a long TTL (`state(i)`: the session's state, or null), and returns
 * them: what the bench's standalone measurements and seeded channels start from.
 */
export async function seedSessions(
  store: PresenceStore,
  count: number,
  options: { prefix: string; node: string; state?: (i: number) => string | null },
): Promise<SessionRef[]> {
  const seeded: SessionRef[] = [];
  for (let i = 0; i < count; i += 2_000) {
    const ops: WriteOp[] = [];
    for (let j = i; j < Math.min(count, i + 2_000); j += 1) {
      const session = { sessionId: randomBytes(10).toString('hex'), clientId: `${options.prefix}${j}` };
      ops.push({ kind: 'add', ...session, node: options.node, ttlMs: 600_000, stateJson: options.state?.(j) ?? null });
      seeded.push(session);
    }
    await store.execute(ops);
  }
  return seeded;
}
