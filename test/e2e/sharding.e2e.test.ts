import { describe, expect, it } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { KeySpace } from '@presence/presence-store';
import { recordFigure } from '../support/figures.js';
import { SseClient } from '../support/sse-client.js';
import { testRedisMode } from '../support/test-store.js';
import { waitFor } from '../support/wait-for.js';
import { sentinelOnline } from '../support/sentinel.js';
import { WireClient } from '../support/wire-client.js';
import { useStack, useEvents, useTestStore } from '../support/use-stack.js';

interface Event {
  id: string;
  type: 'online' | 'offline';
  clientId: string;
  reason: string | null;
}

const SHARDS = 16;
const stack = useStack({ edges: 2, sweepers: 2, shards: SHARDS });
const { redis, store } = useTestStore(stack, SHARDS);
const live = useEvents(stack);

/** The Redis servers that hold data: every master of a cluster, or the one server. */
function masters(): (Redis | Cluster)[] {
  return testRedisMode() === 'cluster' ? (redis as unknown as Cluster).nodes('master') : [redis];
}

/** Client ids chosen so that every shard has `perShard` of them. */
function idsCoveringShards(prefix: string, perShard: number): string[] {
  const keys = new KeySpace(stack.prefix, SHARDS);
  const counts = new Array<number>(SHARDS).fill(0);
  const ids: string[] = [];
  for (let i = 0; ids.length < SHARDS * perShard; i += 1) {
    const id = `${prefix}-${i}`;
    const shard = keys.shardOf(id);
    if ((counts[shard] ?? 0) < perShard) {
      counts[shard] = (counts[shard] ?? 0) + 1;
      ids.push(id);
    }
  }
  return ids;
}

describe(`sharding over ${SHARDS} shards (${testRedisMode()} Redis)`, () => {
  it('spreads clients over every shard and master; sweeps and events cover every master', async () => {
    const doomedIds = idsCoveringShards('shard-a', 2);
    const keptIds = idsCoveringShards('shard-b', 1);
    const port = (i: number) => (stack.edges[i] as { port: number }).port;
    const doomed = await Promise.all(doomedIds.map((id) => WireClient.session(port(0), id)));
    const kept = await Promise.all(keptIds.map((id) => WireClient.session(port(1), id)));
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'online').length === doomedIds.length + keptIds.length, {
      what: 'online events',
    });

    // Every master holds the streams of some shards, and together they hold all of them.
    const streamsPerMaster = await Promise.all(
      masters().map(async (master) => {
        const found: string[] = [];
        let cursor = '0';
        do {
          const [next, keys] = await master.scan(cursor, 'MATCH', `${stack.prefix}:{s*}:events`, 'COUNT', 1000);
          cursor = next;
          found.push(...keys);
        } while (cursor !== '0');
        return found;
      }),
    );
    expect(streamsPerMaster.every((streams) => streams.length > 0)).toBe(true);
    expect(new Set(streamsPerMaster.flat()).size).toBe(SHARDS);

    await stack.edges[0]?.stop('SIGKILL');
    await waitFor(() => live.events<Event>().filter((e) => e.type === 'offline').length === doomedIds.length, {
      timeoutMs: 15_000,
      what: 'expired events for every shard',
    });
    const offline = live.events<Event>().filter((e) => e.type === 'offline');
    expect(offline.every((e) => e.reason === 'expired' && e.clientId.startsWith('shard-a-'))).toBe(true);
    expect(new Set(offline.map((e) => Number(e.id.split('-')[0]))).size).toBe(SHARDS);
    recordFigure({
      id: `sharding-${testRedisMode()}`,
      fault: `Edge crash with clients on all ${SHARDS} shards (${testRedisMode()} Redis, ${masters().length} master(s))`,
      test: `${doomedIds.length} clients on the killed edge, ${keptIds.length} on the other, covering every shard`,
      measured: {
        masters: masters().length,
        'shard streams per master': streamsPerMaster.map((s) => s.length).join('/'),
        'shards with expired events': new Set(offline.map((e) => Number(e.id.split('-')[0]))).size,
        'false offline on the other edge': live.events<Event>().filter((e) => e.type === 'offline' && e.clientId.startsWith('shard-b-'))
          .length,
      },
    });
    for (const session of doomed) session.client.destroy();
    await Promise.all(kept.map((session) => session.client.bye()));
  });

  it('resumes an SSE stream across shards without loss or repeats', async () => {
    const ids = idsCoveringShards('resume', 1);
    const port = (stack.edges[1] as { port: number }).port;
    const subscriber = await SseClient.open(`${stack.apiUrl}/v1/events`);
    await waitFor(() => subscriber.lastEventId !== null, { what: 'SSE open' });
    const first = await Promise.all(ids.map((id) => WireClient.session(port, id)));
    await waitFor(() => subscriber.events<Event>().filter((e) => e.clientId.startsWith('resume-')).length === SHARDS, {
      what: 'online events',
    });
    const cursor = subscriber.lastEventId as string;
    subscriber.close();
    await Promise.all(first.map((s) => s.client.bye()));
    const resumed = await SseClient.open(`${stack.apiUrl}/v1/events`, cursor);
    await waitFor(() => resumed.events<Event>().filter((e) => e.clientId.startsWith('resume-')).length >= SHARDS, {
      what: 'missed offline events',
    });
    // A sentinel event written after them: once resumed has it, a repeat would have come before it.
    const sentinel = await sentinelOnline(store);
    await waitFor(() => resumed.events<Event>().some((e) => e.clientId === sentinel), { what: 'the sentinel event' });
    const missed = resumed.events<Event>().filter((e) => e.clientId.startsWith('resume-'));
    expect(missed.length).toBe(SHARDS);
    expect(missed.every((e) => e.type === 'offline')).toBe(true);
    expect(new Set(missed.map((e) => e.id.split('-')[0])).size).toBe(SHARDS);
    resumed.close();
  });
});
