import type { PresenceStore } from '@presence/presence-store';

/** A sweeper that stopped beating drops off the dashboard this long after its deadline (as edges do). */
const KEEP_DEAD_SWEEPER_MS = 300_000;
/** A clean stop waits this long at most to remove the record. */
const REMOVE_TIMEOUT_MS = 1_000;

export interface SweeperBeatOptions {
  node: string;
  /** A beat is due this often... */
  intervalMs: number;
  /** ...and the sweeper counts as gone this long after its last one. */
  ttlMs: number;
}

export interface SweeperBeat {
  /** Stops beating and removes the sweeper's record (a clean stop leaves at once). */
  stop(): Promise<void>;
}

/**
 * The sweeper's heartbeat for the dashboard's list of nodes: the edges' record (node-beat-2) under
 * the sweepers' keys. Nothing depends on it for correctness; a failed beat is tried again next time.
 */
export function startSweeperBeat(store: Pick<PresenceStore, 'sweeperBeat' | 'removeSweeper'>, options: SweeperBeatOptions): SweeperBeat {
  const startedAt = Date.now();
  // One beat at a time: through an outage they would queue up in the client, to no purpose.
  let pending: Promise<void> | null = null;
  const beat = () => {
    pending ??= store
      .sweeperBeat(options.node, options.ttlMs, startedAt, KEEP_DEAD_SWEEPER_MS)
      .catch(() => {})
      .finally(() => (pending = null));
  };
  beat();
  const timer = setInterval(beat, options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      // Bounded: with Redis out of reach the record simply expires like a crashed sweeper's.
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        store.removeSweeper(options.node).catch(() => {}),
        new Promise<void>((resolve) => (timeout = setTimeout(resolve, REMOVE_TIMEOUT_MS))),
      ]);
      clearTimeout(timeout);
    },
  };
}
