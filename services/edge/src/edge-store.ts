import type { KeySpace, PresenceStore } from '@presence/presence-store';

/**
 * What the edge needs of the presence store: its batched session writes, the node's own liveness
 * and the shard of a client. The real one is `PresenceStore` (the e2e tests run it against Redis);
 * the session core's unit tests give a fake that records calls and can fail them.
 */
export interface EdgeStore extends Pick<PresenceStore, 'execute' | 'nodeBeat' | 'removeNode'> {
  readonly keys: Pick<KeySpace, 'shardOf'>;
}
