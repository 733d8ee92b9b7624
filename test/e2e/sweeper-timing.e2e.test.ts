import { describe, expect, it } from 'vitest';
import { percentile } from '../support/figures.js';
import { metricValue } from '../support/metric-value.js';
import { waitFor } from '../support/wait-for.js';
import { useStack, useTestStore } from '../support/use-stack.js';

// A long interval: anything swept well before it was swept because its deadline came, not by polling.
const SWEEP_INTERVAL_MS = 3_000;
const SHARDS = 4;

const stack = useStack({ edges: 0, sweepers: 1, api: false, shards: SHARDS, env: { SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS) } });
const { store } = useTestStore(stack, SHARDS);

/**
 * Offline events of clients with this prefix: client id → when the sweep wrote the event (Redis
 * time: its stream entry id). Not the event's `at`: an expired session ended when it was last vouched
 * for, a TTL before its deadline.
 */
async function offlineAt(prefix: string): Promise<Map<string, number>> {
  const at = new Map<string, number>();
  for (let shard = 0; shard < SHARDS; shard += 1) {
    for (const { event, streamId } of await store.readEvents(shard, '0-0', 10_000)) {
      if (event.type === 'offline' && event.clientId.startsWith(`${prefix}-`)) at.set(event.clientId, Number(streamId.split('-')[0]));
    }
  }
  return at;
}

async function seed(prefix: string, count: number, ttlMs: number): Promise<Map<string, number>> {
  const ops = Array.from({ length: count }, (_, i) => ({
    kind: 'add' as const,
    sessionId: `s${i}`,
    clientId: `${prefix}-${i}`,
    node: 'gone-node',
    ttlMs,
    stateJson: null,
  }));
  const deadlines = new Map<string, number>();
  (await store.execute(ops)).forEach((result, i) => {
    if (result.ok && result.kind === 'add') deadlines.set(`${prefix}-${i}`, result.now + ttlMs);
  });
  return deadlines;
}

/** Waits until all `count` sessions of `prefix` went offline; returns when each was swept. */
function swept(prefix: string, count: number, timeoutMs: number): Promise<Map<string, number>> {
  return waitFor(
    async () => {
      const at = await offlineAt(prefix);
      return at.size === count ? at : false;
    },
    { timeoutMs, what: `the ${prefix} sessions to expire` },
  );
}

/** Generations of sessions whose deadlines lie GENERATION_GAP_MS apart, the first after the sweeper's next look. */
const GENERATIONS = 4;
const PER_GENERATION = 25;
const GENERATION_GAP_MS = 1_500;
/** How late after its deadline a session may be swept: a few ms on a quiet machine, slack for a loaded one. */
const LAG_BOUND_MS = 1_000;

describe('sweeper timing', () => {
  it('sweeps each generation as its deadline passes, not at the next interval', async () => {
    // Seeded at once: the sweeper learns of them at its next look (within an interval), which comes
    // before the first deadline. From then on it must sleep until each shard's earliest deadline.
    // A sweeper that only polled every interval (3 s) could not sweep two generations 1.5 s apart
    // both within LAG_BOUND_MS of their deadlines.
    const deadlines = new Map<string, number>();
    for (let g = 0; g < GENERATIONS; g += 1) {
      for (const [id, at] of await seed(`gen${g}`, PER_GENERATION, SWEEP_INTERVAL_MS + 500 + g * GENERATION_GAP_MS)) deadlines.set(id, at);
    }
    const lastDeadlineIn = SWEEP_INTERVAL_MS + 500 + (GENERATIONS - 1) * GENERATION_GAP_MS;
    for (let g = 0; g < GENERATIONS; g += 1) {
      const at = await swept(`gen${g}`, PER_GENERATION, lastDeadlineIn + SWEEP_INTERVAL_MS + 2_000);
      const lags = [...at].map(([clientId, sweptAt]) => sweptAt - (deadlines.get(clientId) as number)).sort((a, b) => a - b);
      expect(percentile(lags, 0), `generation ${g}: swept before its deadline`).toBeGreaterThanOrEqual(0);
      expect(percentile(lags, 100), `generation ${g}: lag after its deadline`).toBeLessThanOrEqual(LAG_BOUND_MS);
    }
  });

  it('a deadline moved earlier than the earliest one known is swept within the interval', async () => {
    const sweeps = () =>
      metricValue(`http://127.0.0.1:${stack.sweepers[0]?.env.SWEEPER_METRICS_PORT}/metrics`, 'presence_sweep_seconds_count');
    await seed('moved', 20, 600_000);
    // Two rounds of shard sweeps after the seeding (an idle shard is swept once an interval): the
    // sweeper has seen these sessions and knows a deadline 10 minutes away. It must still look again
    // within an interval, and find the deadlines moved in.
    const seenFrom = await sweeps();
    await waitFor(async () => (await sweeps()) >= seenFrom + 2 * SHARDS, {
      timeoutMs: 3 * SWEEP_INTERVAL_MS,
      what: 'two rounds of sweeps',
    });
    // Pull the far deadlines in, as an edge with a much shorter TTL would.
    const sessions = Array.from({ length: 20 }, (_, i) => ({ sessionId: `s${i}`, clientId: `moved-${i}` }));
    const refreshed = await store.write({ kind: 'refresh', sessions, ttlMs: 100 });
    const movedTo = (refreshed.kind === 'refresh' ? refreshed.now : NaN) + 100;
    const at = await swept('moved', 20, 2 * SWEEP_INTERVAL_MS + 2_000);
    expect(Math.min(...at.values())).toBeGreaterThanOrEqual(movedTo);
    expect(Math.max(...at.values()) - movedTo).toBeLessThanOrEqual(SWEEP_INTERVAL_MS + LAG_BOUND_MS);
  });
});
