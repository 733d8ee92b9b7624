import { silentLogger } from '@presence/telemetry';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisContact } from './redis-contact.js';

const PROBE_MS = 500;
const HOLDOFF_MS = 20_000;

/** `INFO server` answered as a test says: at once, never (a stalled or failing-over Redis), by another process. */
function fakeRedis() {
  const state = { runId: 'a'.repeat(40), uptimeS: 86_400, hang: false };
  const redis = {
    info: () =>
      state.hang ? new Promise<string>(() => {}) : Promise.resolve(`run_id:${state.runId}\r\nuptime_in_seconds:${state.uptimeS}\r\n`),
  };
  return { state, redis: redis as unknown as Redis };
}

describe('RedisContact', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function started() {
    const { state, redis } = fakeRedis();
    const contact = new RedisContact(redis, silentLogger(), { holdoffMs: HOLDOFF_MS, probeMs: PROBE_MS });
    await contact.start();
    return { state, contact };
  }

  it('lets sweeps run while every probe is answered', async () => {
    const { contact } = await started();
    await vi.advanceTimersByTimeAsync(10 * PROBE_MS);
    expect(contact.holdingFor()).toBe(0);
    contact.stop();
  });

  it('holds off while a probe goes unanswered, before any probe could fail', async () => {
    const { state, contact } = await started();
    state.hang = true;
    await vi.advanceTimersByTimeAsync(3 * PROBE_MS + 100);
    expect(contact.holdingFor()).toBe(HOLDOFF_MS);
    // Long after any earlier hold-off would have run out, still held.
    await vi.advanceTimersByTimeAsync(5 * HOLDOFF_MS);
    expect(contact.holdingFor()).toBe(HOLDOFF_MS);
    contact.stop();
  });

  it('holds off for the hold-off after a failover: the promoted replica is another process (run_id)', async () => {
    const { state, contact } = await started();
    state.runId = 'b'.repeat(40);
    await vi.advanceTimersByTimeAsync(PROBE_MS);
    expect(contact.holdingFor()).toBeGreaterThan(HOLDOFF_MS - PROBE_MS);
    await vi.advanceTimersByTimeAsync(HOLDOFF_MS);
    expect(contact.holdingFor()).toBe(0);
    contact.stop();
  });
});
