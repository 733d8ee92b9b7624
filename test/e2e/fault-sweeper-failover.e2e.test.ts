import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventWrittenAt } from '@presence/wire-format';
import { Queue } from 'bullmq';
import { percentile, recordFigure, scaled } from '../support/figures.js';
import { FAST_TIMING, type ServiceProcess } from '../support/stack.js';
import { connectTestRedis } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { useStack, useTestStore } from '../support/use-stack.js';

const SESSIONS = scaled(20_000, 5_000);
const sweepIntervalMs = Number(FAST_TIMING.SWEEP_INTERVAL_MS);

// One group, and jobs far longer than the test: exactly one replica holds the sweep job, and the
// other can only take it over when the holder's lock lapses (BullMQ's stalled-job check). Small
// batches one shard at a time keep the backlog's sweep long enough (~1,000 calls) for the kill to
// land in it: with the defaults a loaded CI machine once saw all 5,000 swept before the kill.
const stack = useStack({
  edges: 0,
  sweepers: 2,
  api: false,
  env: { SWEEP_PARTITIONS: '1', SWEEP_JOB_MS: '600000', SWEEP_BATCH: '5', SWEEP_CONCURRENCY: '1' },
});
const { store } = useTestStore(stack);
/** The sweepers' BullMQ queue, read to learn which replica holds the sweep job. */
let queue: Queue;

beforeAll(() => {
  queue = new Queue('sweep', { connection: connectTestRedis(), prefix: store.keys.queuePrefix });
});

afterAll(async () => {
  await queue?.close();
});

/** The sweeper running the sweep job now (BullMQ records the worker's name, our NODE_ID), if one is. */
async function jobHolder(): Promise<ServiceProcess | undefined> {
  const active = await queue.getActive();
  if (active.length !== 1) return undefined;
  return stack.sweepers.find((sweeper) => sweeper.name === active[0]?.processedBy);
}

/** Registers sessions through the store's own scripts, as edge nodes would; returns their deadlines. */
async function seed(prefix: string, count: number, ttlMs: number): Promise<Map<string, number>> {
  const deadlines = new Map<string, number>();
  for (let i = 0; i < count; i += 1_000) {
    const ops = Array.from({ length: Math.min(1_000, count - i) }, (_, j) => ({
      kind: 'add' as const,
      sessionId: `s${i + j}`,
      clientId: `${prefix}-${i + j}`,
      node: 'gone-node',
      ttlMs,
      stateJson: null,
    }));
    const results = await store.execute(ops);
    results.forEach((result, j) => {
      if (result.ok && result.kind === 'add') deadlines.set(`${prefix}-${i + j}`, result.now + ttlMs);
    });
  }
  return deadlines;
}

async function offlineEvents(prefix: string): Promise<{ id: string; clientId: string; at: number }[]> {
  const events: { id: string; clientId: string; at: number }[] = [];
  for (let shard = 0; shard < 4; shard += 1) {
    let after = '0-0';
    for (;;) {
      const page = await store.readEvents(shard, after, 5_000);
      for (const { event } of page) if (event.type === 'offline' && event.clientId.startsWith(`${prefix}-`)) events.push(event);
      if (page.length < 5_000) break;
      after = (page[page.length - 1] as { streamId: string }).streamId;
    }
  }
  return events;
}

describe('sweeper failover', () => {
  it('SIGKILL of one sweeper mid-sweep: every expired session reported once, sweeps go on within two intervals', async () => {
    const holder = await waitFor(jobHolder, { what: 'one sweeper to hold the sweep job' });
    const survivor = stack.sweepers.find((sweeper) => sweeper !== holder) as ServiceProcess;
    await seed('fo', SESSIONS, 1_500);
    // Kill the job's holder as soon as its sweep of this backlog is under way.
    await waitFor(async () => (await offlineEvents('fo')).length > 0, { timeoutMs: 15_000, intervalMs: 5, what: 'the sweep to start' });
    const killedAt = Date.now();
    await holder.stop('SIGKILL');
    const reportedAtKill = (await offlineEvents('fo')).length;
    // Mid-sweep: the backlog was not done when the holder died.
    expect(reportedAtKill).toBeLessThan(SESSIONS);
    // The survivor takes the job over once the dead holder's lock lapses.
    await waitFor(async () => (await jobHolder()) === survivor, { timeoutMs: 15_000, what: 'the survivor to take the job over' });
    const takenOverMs = Date.now() - killedAt;

    await waitFor(async () => (await store.stats()).sessions === 0, { timeoutMs: 30_000, what: 'every seeded session to be swept' });
    const events = await offlineEvents('fo');
    const perClient = new Map<string, number>();
    for (const event of events) perClient.set(event.clientId, (perClient.get(event.clientId) ?? 0) + 1);
    const doubled = [...perClient.values()].filter((n) => n > 1).length;
    expect(perClient.size).toBe(SESSIONS);
    expect(doubled).toBe(0);
    expect(events.length).toBe(SESSIONS);

    // After the kill: sessions that expire now are swept by the survivor within two intervals.
    const deadlines = await seed('after', 200, 300);
    await waitFor(async () => (await offlineEvents('after')).length === 200, { timeoutMs: 15_000, what: 'the second batch' });
    const lags = (await offlineEvents('after'))
      .map((e) => (eventWrittenAt(e.id) as number) - (deadlines.get(e.clientId) ?? 0))
      .sort((a, b) => a - b);
    expect(percentile(lags, 100)).toBeLessThanOrEqual(2 * sweepIntervalMs + 100);

    recordFigure({
      id: 'sweeper-failover',
      fault: 'Sweeper crash (SIGKILL) mid-sweep',
      test: `2 sweepers; ${SESSIONS} sessions expire at once; the one holding the sweep job is SIGKILLed as the first offline events appear (${reportedAtKill} reported by then), then 200 more sessions expire`,
      measured: {
        'sessions expired': SESSIONS,
        'offline events': events.length,
        'events lost': SESSIONS - perClient.size,
        'events doubled': doubled,
        'job taken over after kill (ms)': takenOverMs,
        'backlog cleared after kill (ms)': Date.now() - killedAt,
        'lag after deadline, p50/max (ms)': `${percentile(lags, 50)}/${percentile(lags, 100)}`,
      },
    });
  });
});
