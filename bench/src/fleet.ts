import { IpcWorker } from './ipc-worker.js';
import type { FloodResult, OpenResult, Target, WorkerCommand, WorkerStats } from './loadgen-worker.js';
import { LatencyHistogram } from './stats.js';

/** Connections one generator process may hold: its fd limit is 20000, like every process here. */
export const MAX_CONNECTIONS_PER_WORKER = 9_000;
/** Connections to one server port above which each worker binds its own source addresses. */
const SOURCE_ADDRESS_THRESHOLD = 20_000;

export interface FleetOpenResult {
  connected: number;
  failed: number;
  errors: Record<string, number>;
  elapsedMs: number;
  /** Connections (HELLO answered) per second over the whole ramp. */
  ratePerSecond: number;
}

/**
 * Several load generator processes, each with its own source addresses in 127.0.0.0/8, driven as
 * one. Connections are spread evenly; every command goes to all workers at once.
 */
export class Fleet {
  readonly workers: IpcWorker<WorkerCommand>[];

  private constructor(workers: IpcWorker<WorkerCommand>[]) {
    this.workers = workers;
  }

  static start(count: number): Fleet {
    return new Fleet(Array.from({ length: count }, (_, i) => new IpcWorker<WorkerCommand>('loadgen-worker.js', `loadgen-${i}`)));
  }

  /** Workers needed for `connections` (at least `min`). */
  static sizeFor(connections: number, min = 1): number {
    return Math.max(min, Math.ceil(connections / MAX_CONNECTIONS_PER_WORKER));
  }

  private static addresses(worker: number): string[] {
    return [1, 2, 3, 4].map((k) => `127.0.${10 + worker}.${k}`);
  }

  /** Opens `count` clients named `${prefix}${n}` (n from `from`), spread over the workers. */
  async open(group: string, target: Target, prefix: string, count: number, from = 0, concurrencyPerWorker = 200): Promise<FleetOpenResult> {
    const n = this.workers.length;
    const started = performance.now();
    let offset = from;
    const results = await Promise.all(
      this.workers.map((worker, i) => {
        const share = Math.floor(count / n) + (i < count % n ? 1 : 0);
        const command: WorkerCommand = {
          cmd: 'open',
          group,
          target,
          prefix,
          from: offset,
          count: share,
          // bind() to a source address halves the connect rate here: only past what one address can
          // reach (~28k ephemeral ports towards one server port) are the connections spread.
          localAddresses: count > SOURCE_ADDRESS_THRESHOLD ? Fleet.addresses(i) : [],
          concurrency: concurrencyPerWorker,
        };
        offset += share;
        return worker.call<OpenResult>(command);
      }),
    );
    const elapsedMs = performance.now() - started;
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const connected = results.reduce((s, r) => s + r.connected, 0);
    return {
      connected,
      failed: results.reduce((s, r) => s + r.failed, 0),
      errors,
      elapsedMs,
      ratePerSecond: connected / (elapsedMs / 1000),
    };
  }

  async heartbeat(group: string, intervalMs: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ cmd: 'heartbeat', group, intervalMs })));
  }

  /** Kills `count` clients at once, spread over the workers; returns [clientId, moment of death]. */
  async kill(group: string, count: number, mode: 'silent' | 'close'): Promise<[string, number][]> {
    const n = this.workers.length;
    const parts = await Promise.all(
      this.workers.map((w, i) =>
        w.call<[string, number][]>({ cmd: 'kill', group, count: Math.floor(count / n) + (i < count % n ? 1 : 0), mode }),
      ),
    );
    return parts.flat();
  }

  /** Flood: closed loop when `ratePerSecond` is 0, else that total rate split over the workers. */
  async flood(
    group: string,
    durationMs: number,
    batch: number,
    depth: number,
    ratePerSecond = 0,
  ): Promise<{
    sent: number;
    answered: number;
    elapsedMs: number;
    histogram: LatencyHistogram;
  }> {
    const n = this.workers.length;
    const results = await Promise.all(
      this.workers.map((w) => w.call<FloodResult>({ cmd: 'flood', group, durationMs, batch, depth, ratePerSecond: ratePerSecond / n })),
    );
    const histogram = new LatencyHistogram();
    for (const r of results) histogram.add(r.histogram);
    return {
      sent: results.reduce((s, r) => s + r.sent, 0),
      answered: results.reduce((s, r) => s + r.answered, 0),
      elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
      histogram,
    };
  }

  async stats(): Promise<WorkerStats & { workerRssKiB: number[] }> {
    const all = await Promise.all(this.workers.map((w) => w.call<WorkerStats>({ cmd: 'stats' })));
    const serverMessages: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s.serverMessages)) serverMessages[k] = (serverMessages[k] ?? 0) + v;
    return {
      live: all.reduce((s, x) => s + x.live, 0),
      closedByServer: all.reduce((s, x) => s + x.closedByServer, 0),
      closedOther: all.reduce((s, x) => s + x.closedOther, 0),
      serverMessages,
      heartbeatsSent: all.reduce((s, x) => s + x.heartbeatsSent, 0),
      rssKiB: all.reduce((s, x) => s + x.rssKiB, 0),
      workerRssKiB: all.map((x) => x.rssKiB),
    };
  }

  async ids(group: string, count: number): Promise<string[]> {
    const n = this.workers.length;
    const parts = await Promise.all(this.workers.map((w) => w.call<string[]>({ cmd: 'ids', group, count: Math.ceil(count / n) })));
    return parts.flat().slice(0, count);
  }

  async close(group: string): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ cmd: 'close', group })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
