import calculateSlot from 'cluster-key-slot';
import { describe, expect, it } from 'vitest';
import { KeySpace, sessionMember } from './key-space.js';
import { WEBHOOK_ID_PATTERN, webhookLaneKeys } from './webhook-keys.js';

describe('KeySpace', () => {
  it('puts every key of a shard under the shard hash tag, first in the key', () => {
    const keys = new KeySpace('p', 4);
    expect(keys.shard(2)).toEqual({
      shard: 2,
      deadlines: 'p:{s2}:deadlines',
      meta: 'p:{s2}:meta',
      online: 'p:{s2}:online',
      since: 'p:{s2}:since',
      lastseen: 'p:{s2}:lastseen',
      events: 'p:{s2}:events',
      outbox: 'p:{s2}:outbox',
      clientPrefix: 'p:{s2}:client:',
    });
    expect(KeySpace.shardKeys('p', 2)).toEqual(keys.shard(2));
    expect([keys.eventsChannel, keys.nodeDeadlines, keys.nodeInfo, keys.queuePrefix]).toEqual([
      'p:events',
      'p:{nodes}:deadlines',
      'p:{nodes}:info',
      'p:{sweeper}',
    ]);
  });

  it("puts every key of a channel under the channel's own hash tag, whatever its shard", () => {
    const keys = new KeySpace('p', 4).channel('room:1/a@b');
    expect(keys).toEqual({
      channel: 'room:1/a@b',
      clients: 'p:{c:room:1/a@b}:clients',
      sessions: 'p:{c:room:1/a@b}:sessions',
      index: 'p:{c:room:1/a@b}:index',
      seq: 'p:{c:room:1/a@b}:seq',
      ended: 'p:{c:room:1/a@b}:ended',
      events: 'p:{c:room:1/a@b}:events',
    });
    const slot = calculateSlot(keys.clients);
    for (const key of [keys.sessions, keys.index, keys.seq, keys.ended, keys.events]) expect(calculateSlot(key)).toBe(slot);
    expect(new KeySpace('p', 4).channelEventsChannel).toBe('p:channel-events');
  });

  it('keeps the sweepers heartbeats under the nodes tag (one script writes a pair) and the stats samples under a tag of their own', () => {
    const keys = new KeySpace('p', 4);
    expect([keys.sweeperDeadlines, keys.sweeperInfo, keys.statsSamples]).toEqual([
      'p:{nodes}:sweepers:deadlines',
      'p:{nodes}:sweepers:info',
      'p:{stats}:samples',
    ]);
  });

  it('places a client by its id cluster slot modulo the shard count', () => {
    // The slots Redis's documentation gives for CLUSTER KEYSLOT: somekey 11058, foo 12182.
    expect(new KeySpace('p', 16).shardOf('somekey')).toBe(11058 % 16);
    expect(new KeySpace('p', 7).shardOf('foo')).toBe(12182 % 7);
    expect(new KeySpace('p', 16).client('foo')).toBe(`p:{s${12182 % 16}}:client:foo`);
  });

  it('refuses a shard outside the key space', () => {
    expect(() => new KeySpace('p', 4).shard(4)).toThrow(RangeError);
  });

  it('writes a session member as sessionId|clientId', () => {
    expect(sessionMember('abc', 'alice')).toBe('abc|alice');
  });
});

describe('webhook keys', () => {
  it('keeps deployment-wide keys under {webhooks} and each lane under its source shard tag', () => {
    const keys = new KeySpace('p', 2);
    expect(keys.webhooks).toEqual({
      endpoints: 'p:{webhooks}:endpoints',
      deleting: 'p:{webhooks}:deleting',
      jobs: 'p:{webhooks}:jobs',
      jobSeq: 'p:{webhooks}:job-seq',
      fanOutLease: 'p:{webhooks}:fan-out',
      channel: 'p:webhooks',
      queuePrefix: 'p:{webhooks}',
    });
    const source = keys.webhookSources()[1];
    expect(source).toEqual({
      source: 's1',
      stream: { kind: 'shard', shard: 1 },
      events: 'p:{s1}:events',
      cursor: 'p:{s1}:webhooks:cursor',
      version: 'p:{s1}:webhooks:version',
      lanePrefix: 'p:{s1}:webhooks:',
    });
    expect(webhookLaneKeys(source!, 'wh_1')).toEqual({ queue: 'p:{s1}:webhooks:wh_1:queue', dead: 'p:{s1}:webhooks:wh_1:dead' });
    expect(keys.webhookSources().map((s) => s.events)).toEqual(keys.allShards().map((s) => s.events));
  });

  it("puts a channel source's cursor, version and lanes in the channel's slot, beside its stream", () => {
    const keys = new KeySpace('p', 2);
    const source = keys.webhookChannelSource('room:1');
    expect(source).toEqual({
      source: 'c:room:1',
      stream: { kind: 'channel', channel: 'room:1' },
      events: keys.channel('room:1').events,
      cursor: 'p:{c:room:1}:webhooks:cursor',
      version: 'p:{c:room:1}:webhooks:version',
      lanePrefix: 'p:{c:room:1}:webhooks:',
    });
    const lane = webhookLaneKeys(source, 'wh_1');
    const slot = calculateSlot(source.events);
    for (const key of [source.cursor, source.version, lane.queue, lane.dead]) expect(calculateSlot(key)).toBe(slot);
  });

  it('accepts endpoint ids that cannot leave their slot', () => {
    for (const id of ['wh_0a', 'cfg-1', 'A'.repeat(64)]) expect(WEBHOOK_ID_PATTERN.test(id)).toBe(true);
    for (const id of ['', 'a{b}', 'a:b', 'a b', 'a'.repeat(65)]) expect(WEBHOOK_ID_PATTERN.test(id)).toBe(false);
  });
});
