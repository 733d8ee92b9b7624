import { EventEmitter } from 'node:events';
import { EventCursor, compareStreamIds, type PresenceEvent, type PresenceStore, type StreamedEvent } from '@presence/presence-store';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { EventHub } from './event-hub.js';

// A store with one shard whose stream holds what `append` put there, and a pub/sub connection that
// only takes subscriptions: the hub's own logic (reading, observers), without Redis.
function fakeStore() {
  const stream: StreamedEvent[] = [];
  const store = {
    keys: { eventsChannel: 'events', shardCount: 1 },
    latestCursor: async () => EventCursor.start(1),
    readEvents: async (_shard: number, after: string, count: number) =>
      stream.filter((entry) => compareStreamIds(entry.streamId, after) > 0).slice(0, count),
  };
  const append = (n: number): PresenceEvent => {
    const event: PresenceEvent = { id: `0-${n}-0`, type: 'online', clientId: `c${n}`, sessionId: 's', node: 'n', reason: null, at: n };
    stream.push({ shard: 0, streamId: `${n}-0`, event });
    return event;
  };
  return { store: store as unknown as PresenceStore, append };
}

function startedHub() {
  const { store, append } = fakeStore();
  const pubsub = Object.assign(new EventEmitter(), { subscribe: async () => 1 });
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const hub = new EventHub(store, pubsub as unknown as Redis | Cluster, logger as never, { pollMs: 60_000, maxBacklog: 10 });
  /** An event appended, and its doorbell rung. */
  const publish = (n: number) => {
    const event = append(n);
    pubsub.emit('message', 'events', JSON.stringify(event));
    return event;
  };
  return { hub, publish };
}

describe('EventHub.observe', () => {
  it('hands every event to each observer until its subscription is closed', async () => {
    const { hub, publish } = startedHub();
    await hub.start();
    const first: string[] = [];
    const second: string[] = [];
    hub.observe((event) => first.push(event.id));
    const secondObserver = hub.observe((event) => second.push(event.id));
    const one = publish(1);
    await expect.poll(() => first).toEqual([one.id]);
    expect(second).toEqual([one.id]);

    secondObserver.close();
    const two = publish(2);
    // The first observer seeing the second event is the sentinel: by then the closed one would have had it too.
    await expect.poll(() => first).toEqual([one.id, two.id]);
    expect(second).toEqual([one.id]);
    hub.stop();
  });
});
