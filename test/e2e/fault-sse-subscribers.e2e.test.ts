import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { recordFigure, scaled } from '../support/figures.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait-for.js';
import { isSentinel, sentinelOnline } from '../support/sentinel.js';
import { useStack, useTestStore } from '../support/use-stack.js';

interface Event {
  id: string;
  clientId: string;
}

const TRANSITIONS = scaled(20_000, 10_000);
const stack = useStack({ edges: 0, sweepers: 0, env: { SSE_MAX_BUFFER_BYTES: '1048576', EVENTS_MAXLEN: '1000000' } });
const { store } = useTestStore(stack);

/** Online then offline for `count` clients: 2 x count events, written through the store's scripts. */
async function churn(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    const ids = Array.from({ length: Math.min(500, count - i) }, (_, j) => `${prefix}-${i + j}`);
    await store.execute(ids.map((clientId) => ({ kind: 'add', sessionId: 's', clientId, node: 'n', ttlMs: 60_000, stateJson: null })));
    await store.execute(ids.map((clientId) => ({ kind: 'remove', sessionId: 's', clientId, reason: 'leave' })));
  }
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${stack.apiUrl}/metrics`)).text();
  // `name` may open the labels (`metric{stream="x"`): the rest of them (no spaces) and the value follow.
  const match = new RegExp(`^${name.replace(/[{}]/g, '\\$&')}\\S* ([0-9.e+]+)$`, 'm').exec(text);
  return match === null ? NaN : Number(match[1]);
}

describe('SSE subscribers under faults', () => {
  it('drops a subscriber that stops reading, with the API memory bounded, while others get everything', async () => {
    const good = await SseClient.open(`${stack.apiUrl}/v1/events`);
    await waitFor(() => good.lastEventId !== null, { what: 'SSE open' });
    const url = new URL(stack.apiUrl);
    const slow = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(`GET /v1/events HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
    slow.pause();
    await waitFor(async () => (await metric('presence_sse_subscribers{stream="presence"')) === 2, { what: 'two subscribers' });
    const rssBefore = await metric('process_resident_memory_bytes');

    // Long ids make ~450-byte events (9 MB in all), so the unread stream outgrows what the kernel's
    // socket buffers absorb (about 4 MiB here) and piles up in the API, where the limit applies.
    const prefix = `slow${'x'.repeat(110)}`;
    // Paced like a real producer: each chunk waits until the reading subscriber has the previous
    // one, so only the stalled subscriber falls behind, however busy the machine is.
    const CHUNK = 500;
    for (let i = 0; i < TRANSITIONS; i += CHUNK) {
      await churn(`${prefix}${i}-`, Math.min(CHUNK, TRANSITIONS - i));
      const expected = 2 * Math.min(i + CHUNK, TRANSITIONS);
      await waitFor(() => good.events<Event>().filter((e) => e.clientId.startsWith(prefix)).length === expected, {
        timeoutMs: 30_000,
        what: `the reading subscriber to get ${expected} events`,
      });
    }
    await waitFor(async () => (await metric('presence_sse_subscribers{stream="presence"')) === 1, {
      what: 'the slow subscriber to be dropped',
    });
    // What the SseSubscribersDropped alert counts (deploy/prometheus/alerts.yml).
    const counted = await (await fetch(`${stack.apiUrl}/metrics`)).text();
    expect(counted).toMatch(/^presence_sse_dropped_total\{stream="presence",reason="slow_reader"[^}]*\} 1$/m);
    expect(counted).toMatch(/^presence_sse_dropped_total\{stream="presence",reason="catching_up"[^}]*\} 0$/m);
    const rssAfter = await metric('process_resident_memory_bytes');
    const growthMiB = (rssAfter - rssBefore) / 2 ** 20;
    expect(growthMiB).toBeLessThan(64);
    slow.destroy();
    good.close();
    recordFigure({
      id: 'slow-subscriber',
      fault: 'SSE subscriber that stops reading',
      test: `one subscriber never reads while ${2 * TRANSITIONS} events are written; SSE_MAX_BUFFER_BYTES=1 MiB; another subscriber reads normally`,
      measured: {
        'slow subscriber dropped': 'yes',
        'events received by the reading subscriber': `${good.events<Event>().filter((e) => e.clientId.startsWith(prefix)).length}/${2 * TRANSITIONS}`,
        'API RSS before (MiB)': Math.round(rssBefore / 2 ** 20),
        'API RSS after (MiB)': Math.round(rssAfter / 2 ** 20),
      },
    });
  });

  it('an API restart loses no event for a subscriber that resumes with Last-Event-ID', async () => {
    const subscriber = await SseClient.open(`${stack.apiUrl}/v1/events`);
    await waitFor(() => subscriber.lastEventId !== null, { what: 'SSE open' });
    await churn('before', 100);
    await waitFor(() => subscriber.events().length === 200, { what: 'events before the restart' });
    const api = stack.api;
    expect(await api?.stop('SIGTERM')).toBe(0);
    await waitFor(() => subscriber.ended, { what: 'the stream to end with the API' });
    await churn('during', 300);
    await stack.startApi();
    const resumed = await SseClient.open(`${stack.apiUrl}/v1/events`, subscriber.lastEventId ?? undefined);
    await churn('after', 100);
    await waitFor(() => resumed.events().length >= 800, { what: 'missed and new events' });
    // A sentinel event written after them: once resumed has it, a repeat would have come before it.
    const sentinel = await sentinelOnline(store);
    await waitFor(() => resumed.events<Event>().some((e) => e.clientId === sentinel), { what: 'the sentinel event' });
    const missed = resumed.events<Event>().filter((e) => !isSentinel(e.clientId));
    const ids = [...subscriber.events<Event>(), ...missed].map((e) => e.id);
    expect(missed.length).toBe(800);
    expect(new Set(ids).size).toBe(1_000);
    resumed.close();
    recordFigure({
      id: 'api-restart',
      fault: 'API restart (SIGTERM, start) with an SSE subscriber',
      test: '200 events before, 600 while the API is down, 200 after; the subscriber resumes with Last-Event-ID',
      measured: { 'events lost': 1_000 - new Set(ids).size, 'events repeated': ids.length - new Set(ids).size },
    });
  });
});
