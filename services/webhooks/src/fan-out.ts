import type { Logger } from '@presence/telemetry';
import {
  endpointWants,
  outgoingEvent,
  type OutgoingEvent,
  type WebhookEndpoint,
  type WebhookEvent,
  type WebhookStore,
} from '@presence/webhooks';
import type { WebhookSourceKeys } from '@presence/wire-format';
import type { WebhookMetrics } from './metrics.js';

/**
 * Reads a source's stream after `afterId` (exclusive), oldest first: a shard's presence events
 * (PresenceStore.readEvents) or a channel's events (ChannelStore.readEvents).
 */
export type SourceReader = (
  source: WebhookSourceKeys,
  afterId: string,
  count: number,
) => Promise<{ streamId: string; event: WebhookEvent }[]>;

export interface FanOutOptions {
  /** Stream entries read per call. */
  readCount: number;
  /** Every stream is read this often even without a wake-up. */
  pollMs: number;
  /** The lease's TTL: another replica takes the fan-out over this long after this one dies. */
  leaseMs: number;
  workerName: string;
}

export interface FanOutDeps {
  store: WebhookStore;
  read: SourceReader;
  /** Called for each endpoint whose lane got its first event (it needs a delivery job). */
  wake(endpoint: string): Promise<void>;
  /** Called every lease period while this replica holds the lease (repairs after crashes). */
  reconcile(): Promise<void>;
  logger: Logger;
  metrics: WebhookMetrics;
  options: FanOutOptions;
}

export interface FanOut {
  start(): Promise<void>;
  /** A new event was published on the source named `source` (the pub/sub doorbell): read it soon, if it is read. */
  ring(source: string): void;
  /** The endpoints changed: read them again before the next write. */
  endpointsChanged(): void;
  readonly holding: boolean;
  stop(): Promise<void>;
}

const msOf = (streamId: string): number => Number(streamId.slice(0, streamId.indexOf('-')));

/**
 * Copies events from the source streams into the lanes of the endpoints that want them
 * (docs/webhooks.md, "Fan-out"). One replica at a time does it, the holder of a lease in Redis; each
 * write moves a source's cursor in the same script (fan-out-3.lua), which refuses a caller whose
 * cursor or endpoint list is out of date, so a second fan-out (a lease taken over from a replica
 * that was only slow) can waste work but never duplicate, drop or reorder an event.
 *
 * The sources are the shard streams and the streams of the channels the endpoints name
 * (`store.sourcesFor`): the set changes with the endpoints, and is read again with them.
 */
export function createFanOut(deps: FanOutDeps): FanOut {
  const { store, logger, metrics, options } = deps;
  const dirty = new Set<string>();
  const cursors = new Map<string, string>();
  /** The sources read now, by name. */
  let sources = new Map(store.shardSources.map((source) => [source.source, source]));
  /** The endpoint list and the versions of the sources read before it (null: to be read). */
  let current: { endpoints: WebhookEndpoint[]; versions: Map<string, string> } | null = null;
  let holding = false;
  let running = false;
  /** The sources being drained now, each by a loop of its own, so that a slow one holds up no other. */
  const draining = new Map<string, Promise<void>>();
  let loading: Promise<void> | null = null;
  let leaseTimer: NodeJS.Timeout | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let lastReconcile = 0;
  let tending = false;
  let failureLogged = 0;

  /** Marks a source to be read, and starts its loop unless it runs. */
  const kick = (source: string) => {
    dirty.add(source);
    if (!running || !holding || draining.has(source)) return;
    draining.set(
      source,
      drain(source).finally(() => draining.delete(source)),
    );
  };
  const markAll = () => {
    for (const source of sources.keys()) kick(source);
  };

  /**
   * Versions first, then the list: the list is then at least as new as the versions the writes
   * carry. The versions are those of the sources the list before names; when the list after names
   * a source more (an endpoint with a new channel came meanwhile), once more. One load at a time,
   * shared by the sources that need it.
   */
  function loadEndpoints(): Promise<void> {
    loading ??= (async () => {
      for (;;) {
        const before = store.sourcesFor(await store.listEndpoints());
        const seen = await store.versions(before);
        const endpoints = await store.listEndpoints();
        const names = new Set(before.map((source) => source.source));
        const after = store.sourcesFor(endpoints);
        if (!after.every((source) => names.has(source.source))) continue;
        current = { endpoints, versions: new Map(before.map((source, i) => [source.source, seen[i] as string])) };
        const added = after.filter((source) => !sources.has(source.source));
        sources = new Map(after.map((source) => [source.source, source]));
        for (const name of cursors.keys()) if (!sources.has(name)) cursors.delete(name);
        for (const source of added) kick(source.source);
        return;
      }
    })().finally(() => {
      loading = null;
    });
    return loading;
  }

  async function fanOutSource(name: string): Promise<void> {
    for (;;) {
      if (current === null) await loadEndpoints();
      // The list and versions of this pass, together (endpointsChanged may clear `current` meanwhile).
      const pass = current;
      const source = sources.get(name);
      // No endpoint names this channel any more.
      if (pass === null || source === undefined) return;
      const from = cursors.get(name) ?? (await store.cursor(source));
      const entries = await deps.read(source, from, options.readCount);
      if (entries.length === 0) {
        cursors.set(name, from);
        return;
      }
      const events: OutgoingEvent[] = [];
      const lanes = new Map<string, number[]>();
      let queued = 0;
      for (const { streamId, event } of entries) {
        const written = msOf(streamId);
        let position = -1;
        for (const endpoint of pass.endpoints) {
          // Events from before an endpoint was registered are not its (a worker catching up after downtime reads them).
          if (written < endpoint.createdAt || !endpointWants(endpoint, event)) continue;
          if (position === -1) position = events.push(outgoingEvent(event)) - 1;
          const lane = lanes.get(endpoint.id);
          if (lane === undefined) lanes.set(endpoint.id, [position]);
          else lane.push(position);
          queued += 1;
        }
      }
      const to = (entries[entries.length - 1] as { streamId: string }).streamId;
      const result = await store.fanOut(source, from, to, pass.versions.get(name) ?? '0', events, lanes);
      if (result.kind === 'stale') {
        if (current === pass) current = null;
        continue;
      }
      if (result.kind === 'moved') {
        cursors.set(name, result.cursor);
        continue;
      }
      cursors.set(name, to);
      metrics.eventsQueued.inc(queued);
      for (const endpoint of result.activated) await deps.wake(endpoint);
      if (entries.length < options.readCount) return;
    }
  }

  /** Reads a source until nothing new is there, and again whenever it was rung meanwhile. */
  async function drain(source: string): Promise<void> {
    while (running && holding && dirty.has(source)) {
      dirty.delete(source);
      try {
        await fanOutSource(source);
      } catch (err) {
        dirty.add(source);
        cursors.delete(source);
        if (performance.now() - failureLogged > 10_000) {
          failureLogged = performance.now();
          logger.warn({ err, source }, 'fan-out failed; will retry');
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(options.pollMs, 1_000)));
      }
    }
  }

  async function tendLease(): Promise<void> {
    if (tending) return;
    tending = true;
    try {
      const held = await store.holdLease(options.workerName, options.leaseMs);
      const taken = held && !holding;
      if (!held && holding) logger.info({}, 'fan-out lease lost to another replica');
      holding = held;
      if (taken) {
        logger.info({}, 'fan-out lease taken: this replica moves events into the webhook lanes');
        // Another replica may have moved cursors and endpoints meanwhile.
        cursors.clear();
        current = null;
        markAll();
      }
      if (holding && performance.now() - lastReconcile >= options.leaseMs) {
        lastReconcile = performance.now();
        await deps.reconcile();
      }
    } catch (err) {
      if (performance.now() - failureLogged > 10_000) {
        failureLogged = performance.now();
        logger.warn({ err }, 'fan-out lease or reconcile failed; will retry');
      }
    } finally {
      tending = false;
    }
  }

  return {
    get holding() {
      return holding;
    },

    ring(source) {
      if (sources.has(source)) kick(source);
    },

    endpointsChanged() {
      // The shard sources' loops read the list again, and start those of channels new in it.
      current = null;
      markAll();
    },

    async start() {
      running = true;
      await tendLease();
      leaseTimer = setInterval(() => void tendLease(), Math.max(50, Math.floor(options.leaseMs / 3)));
      pollTimer = setInterval(markAll, options.pollMs);
      markAll();
    },

    async stop() {
      running = false;
      if (leaseTimer !== null) clearInterval(leaseTimer);
      if (pollTimer !== null) clearInterval(pollTimer);
      await Promise.all(draining.values());
      if (holding) await store.releaseLease(options.workerName).catch(() => {});
      holding = false;
    },
  };
}
