import { silentLogger } from '@presence/telemetry';
import { Counter, Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Fence } from './fence.js';
import type { WitnessAnswer } from './redis-witness.js';
import type { RedisLink } from './session-writer.js';

const FENCE_AFTER_MS = 5_000;
const TTL_MS = 15_000;
const MAX_WINDOW_MS = 5_000;

/** A fence over a link, a witness and listeners the test controls, on a clock it moves by hand. */
function setup(options: { witness?: WitnessAnswer | null; maxMoveWindowMs?: number; probeAnswered?: boolean } = {}) {
  let now = 100_000;
  const link: RedisLink = { unansweredSince: null, refreshedAt: now, everAnswered: true };
  let answer: WitnessAnswer | null = options.witness === undefined ? { redis: 'up' } : options.witness;
  const calls: string[] = [];
  const probes: { at: number; timeoutMs: number }[] = [];
  const registry = new Registry();
  const metrics = {
    fenced: new Gauge({ name: 'fenced', help: 'h', registers: [registry] }),
    fences: new Counter({ name: 'fences', help: 'h', registers: [registry] }),
  };
  const fence = new Fence({
    witness:
      options.witness === null
        ? null
        : async () => {
            calls.push('witness');
            return answer ?? { redis: 'down', detail: 'no answer' };
          },
    link: () => ({ ...link }),
    probe: async (timeoutMs) => {
      probes.push({ at: now, timeoutMs });
      return options.probeAnswered ?? false;
    },
    stopAccepting: () => calls.push('stop accepting'),
    resumeAccepting: async () => {
      calls.push('resume accepting');
    },
    moveSessions: async (windowMs) => {
      calls.push(`move over ${windowMs} ms`);
    },
    logger: silentLogger(),
    metrics,
    options: { fenceAfterMs: FENCE_AFTER_MS, sessionTtlMs: TTL_MS, maxMoveWindowMs: options.maxMoveWindowMs ?? MAX_WINDOW_MS },
    now: () => now,
  });
  return {
    fence,
    link,
    calls,
    probes,
    metrics,
    /** Moves the clock, then lets the fence look (as its timer does every check period). */
    async at(ms: number) {
      now = ms;
      await fence.check();
    },
    setWitness(next: WitnessAnswer) {
      answer = next;
    },
    get now() {
      return now;
    },
  };
}

describe('Fence', () => {
  it('does nothing while Redis answers every write, and asks nobody', async () => {
    const t = setup();
    for (let ms = 100_000; ms < 200_000; ms += 1_000) await t.at(ms);
    expect(t.calls).toEqual([]);
    expect(t.fence.notReady()).toBeNull();
  });

  it('asks nothing before half the bound, then the probe and the witness side by side, and fences at the bound', async () => {
    const t = setup();
    t.link.unansweredSince = 101_000;
    await t.at(103_499);
    expect([t.calls, t.probes]).toEqual([[], []]);
    await t.at(103_500);
    expect(t.calls).toEqual(['witness']);
    expect(t.probes).toEqual([{ at: 103_500, timeoutMs: FENCE_AFTER_MS / 2 }]);
    await t.at(105_999);
    expect(t.fence.fenced).toBe(false);
    await t.at(106_000);
    expect(t.fence.fenced).toBe(true);
  });

  it('PINGs Redis on its other connection from half the bound on, and keeps its clients when Redis answers it', async () => {
    const t = setup({ probeAnswered: true });
    t.link.unansweredSince = 101_000;
    await t.at(103_499);
    expect(t.probes).toEqual([]);
    await t.at(103_500);
    expect(t.probes).toEqual([{ at: 103_500, timeoutMs: FENCE_AFTER_MS / 2 }]);
    // Slow writes, not a cut link: however long it lasts, and though the witness reaches Redis.
    for (let ms = 104_000; ms <= 160_000; ms += 500) await t.at(ms);
    expect(t.calls.filter((call) => call !== 'witness')).toEqual([]);
    expect(t.fence.fenced).toBe(false);
    expect(t.probes.length).toBeGreaterThan(10);
  });

  it('fences when the witness still reaches Redis: stops accepting, says why, moves clients over half the time left', async () => {
    const t = setup();
    // The last refresh every shard acknowledged went out at 100 000: deadlines at 115 000.
    t.link.unansweredSince = 105_000;
    await t.at(107_500);
    await t.at(110_000);
    // 5 000 ms left before the earliest deadline: move over half of it.
    expect(t.calls).toEqual(['witness', 'witness', 'stop accepting', 'move over 2500 ms']);
    expect(t.fence.fenced).toBe(true);
    expect(t.fence.notReady()).toMatch(/^cut off from Redis while REDIS_WITNESS_URL still reaches it/);
    expect((await t.metrics.fenced.get()).values[0]?.value).toBe(1);
    // Fenced once: later checks do not move anyone again.
    await t.at(111_000);
    expect(t.calls).toHaveLength(4);
  });

  it('caps the move window at the drain window, and moves at once when no refresh was ever acknowledged', async () => {
    const early = setup({ maxMoveWindowMs: 2_000 });
    early.link.unansweredSince = 100_500;
    await early.at(105_500);
    // 9 500 ms left: half would be 4 750.
    expect(early.calls.at(-1)).toBe('move over 2000 ms');
    const never = setup();
    never.link.refreshedAt = null;
    never.link.unansweredSince = 100_000;
    await never.at(105_000);
    expect(never.calls.at(-1)).toBe('move over 0 ms');
  });

  it('keeps its clients when the witness cannot reach Redis either (an outage), as long as that lasts', async () => {
    const t = setup({ witness: { redis: 'down', detail: 'http://api/readyz answered 503' } });
    t.link.unansweredSince = 100_000;
    for (let ms = 105_000; ms <= 140_000; ms += 1_000) await t.at(ms);
    expect(t.calls.every((call) => call === 'witness')).toBe(true);
    expect(t.fence.fenced).toBe(false);
    expect(t.fence.notReady()).toBeNull();
  });

  it('after an outage, gives its own writes FENCE_AFTER_MS from the witness\'s first "up" before they can fence it', async () => {
    const t = setup({ witness: { redis: 'down', detail: '503' } });
    t.link.unansweredSince = 100_000;
    // The witness can't reach Redis either: the next question waits half the bound after that answer.
    await t.at(120_000);
    t.setWitness({ redis: 'up' });
    await t.at(122_499);
    expect(t.calls).toEqual(['witness']);
    // Redis is back for the witness: its first "up" starts the time this node's own writes get.
    await t.at(122_500);
    expect(t.calls).toEqual(['witness', 'witness']);
    for (let ms = 123_000; ms < 127_500; ms += 500) await t.at(ms);
    expect(t.fence.fenced).toBe(false);
    // This node's held writes are answered within the bound: nothing happens.
    t.link.unansweredSince = null;
    await t.at(127_500);
    expect(t.calls).not.toContain('stop accepting');

    // Had they not been, the bound after the first "up" fences it.
    const slow = setup({ witness: { redis: 'down', detail: '503' } });
    slow.link.unansweredSince = 100_000;
    await slow.at(120_000);
    slow.setWitness({ redis: 'up' });
    await slow.at(122_500);
    await slow.at(127_499);
    expect(slow.fence.fenced).toBe(false);
    await slow.at(127_500);
    expect(slow.fence.fenced).toBe(true);
  });

  it('heals when Redis answers a write again: accepts and is ready again', async () => {
    const t = setup();
    t.link.unansweredSince = 100_000;
    await t.at(105_000);
    expect(t.fence.fenced).toBe(true);
    await t.at(130_000);
    t.link.unansweredSince = null;
    await t.at(130_100);
    expect(t.calls.slice(-1)).toEqual(['resume accepting']);
    expect(t.fence.fenced).toBe(false);
    expect(t.fence.notReady()).toBeNull();
    expect((await t.metrics.fences.get()).values[0]?.value).toBe(1);
  });

  it('never fences without a witness: it cannot tell a partition from an outage', async () => {
    const t = setup({ witness: null });
    t.link.unansweredSince = 100_000;
    for (let ms = 105_000; ms <= 200_000; ms += 5_000) await t.at(ms);
    expect(t.calls).toEqual([]);
  });
});
