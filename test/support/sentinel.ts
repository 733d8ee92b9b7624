import { randomUUID } from 'node:crypto';
import { createPresenceClient } from '@presence/client';
import type { PresenceStore } from '@presence/presence-store';
import { freePort } from './free-port.js';
import { WireClient } from './wire-client.js';

/**
 * Sentinel events end a window in which a test shows that nothing happens: the test causes one, waits
 * for it to arrive where the thing that must not happen would have shown, and judges then.
 */

/** The node sentinel sessions claim: no edge runs it, so none of them is ever refreshed. */
const SENTINEL_NODE = 'sentinel-node';

/**
 * Writes an online event now (a session of a node that never refreshes it); returns its client id.
 * The session expires by itself after `ttlMs` where a sweeper runs.
 */
export async function sentinelOnline(store: PresenceStore, ttlMs = 2_000): Promise<string> {
  const clientId = `sentinel-${randomUUID()}`;
  await store.write({ kind: 'add', sessionId: randomUUID(), clientId, node: SENTINEL_NODE, ttlMs, stateJson: null });
  return clientId;
}

/**
 * A session whose deadline is `ttlMs` from now: a sweep writes its offline (expired) event once the
 * deadline passed, so its arrival proves that the sweeper looked past that moment.
 */
export function expiringSentinel(store: PresenceStore, ttlMs: number): Promise<string> {
  return sentinelOnline(store, ttlMs);
}

/** Whether an event list holds a sentinel's event of that type. */
export const isSentinel = (clientId: string): boolean => clientId.startsWith('sentinel-');

/**
 * Ends a window of one heartbeat timeout on an edge: a session that sends nothing after its HELLO,
 * which the edge must close with `BYE timeout`. Resolves once it did.
 */
export async function silentSessionTimedOut(port: number, clientId: string, timeoutMs: number): Promise<void> {
  const { client } = await WireClient.session(port, clientId, 0);
  const line = await client.nextLine(timeoutMs + SILENT_SLACK_MS);
  if (line !== 'BYE timeout') throw new Error(`the silent sentinel ${clientId} got ${JSON.stringify(line)}, not BYE timeout`);
  await client.closed;
}

/** How long after its timeout a silent sentinel may still wait for its BYE (a loaded machine). */
const SILENT_SLACK_MS = 3_000;

/**
 * Ends a window in which a client must not retry: a control client with the same backoff, pointed at
 * a port where nothing listens, makes `attempts` reconnect attempts. Resolves once it did.
 */
export async function controlReconnects(backoffBaseMs: number, attempts: number): Promise<void> {
  const control = createPresenceClient({ port: await freePort(), clientId: 'sentinel-control', backoffBaseMs });
  let seen = 0;
  const done = new Promise<void>((resolve) =>
    control.on('reconnecting', () => {
      if (++seen >= attempts) resolve();
    }),
  );
  control.connect().catch(() => {});
  try {
    await done;
  } finally {
    await control.close();
  }
}
