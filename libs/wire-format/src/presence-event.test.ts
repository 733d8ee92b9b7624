import { describe, expect, it } from 'vitest';
import { eventFromMessage, eventFromStreamFields, eventId, eventWrittenAt, parseEventId, type PresenceEvent } from './presence-event.js';

const offline: PresenceEvent = {
  id: '3-1700000000000-7',
  type: 'offline',
  clientId: 'alice',
  sessionId: '0123abcd',
  node: 'edge-1',
  reason: 'timeout',
  at: 1_700_000_000_123,
};

describe('event ids', () => {
  it('joins and splits shard and stream entry id', () => {
    expect(eventId(3, '1700000000000-7')).toBe('3-1700000000000-7');
    expect(parseEventId('3-1700000000000-7')).toEqual({ shard: 3, entryId: '1700000000000-7' });
  });

  it('refuses what is not an event id', () => {
    for (const id of ['', '3', '3-17', 'x-1-2', '3-1-2-4', '-1-2', '3-1-x', ' 3-1-2']) expect(parseEventId(id)).toBeNull();
  });

  it('tells when an event was written: the milliseconds of its stream entry id', () => {
    expect(eventWrittenAt('3-1700000000000-7')).toBe(1_700_000_000_000);
    expect(eventWrittenAt('3-17')).toBeNull();
  });
});

describe('eventFromStreamFields', () => {
  it('reads the fields emit-event.lua writes, reason only on offline events', () => {
    const fields = [
      'type',
      'offline',
      'clientId',
      'alice',
      'sessionId',
      '0123abcd',
      'node',
      'edge-1',
      'at',
      '1700000000123',
      'reason',
      'timeout',
    ];
    expect(eventFromStreamFields(3, '1700000000000-7', fields)).toEqual(offline);
    const online = ['type', 'online', 'clientId', 'bob', 'sessionId', 's1', 'node', 'n', 'at', '5'];
    expect(eventFromStreamFields(0, '5-0', online)).toEqual({
      id: '0-5-0',
      type: 'online',
      clientId: 'bob',
      sessionId: 's1',
      node: 'n',
      reason: null,
      at: 5,
    });
  });

  it('passes a type or reason it does not know on as written (a newer writer)', () => {
    const event = eventFromStreamFields(1, '1-0', [
      'type',
      'joined',
      'clientId',
      'c',
      'sessionId',
      's',
      'node',
      'n',
      'at',
      '1',
      'reason',
      'kicked',
    ]);
    expect([event.type, event.reason]).toEqual(['joined', 'kicked']);
  });
});

describe('eventFromMessage', () => {
  it('decodes the published JSON', () => {
    expect(eventFromMessage(JSON.stringify(offline))).toEqual(offline);
    const online = { ...offline, type: 'online', reason: null };
    expect(eventFromMessage(JSON.stringify(online))).toEqual(online);
  });

  it('decodes escapes the way cjson writes them (a slash as \\/)', () => {
    const message = '{"id":"0-1-0","type":"online","clientId":"a\\/b","sessionId":"s\\"q","node":"n\\u0001\\n","reason":null,"at":1}';
    expect(eventFromMessage(message)).toMatchObject({ clientId: 'a/b', sessionId: 's"q', node: 'n\u0001\n' });
  });

  it('returns null for anything that is not an event', () => {
    const bad = [
      'not json',
      'null',
      '[]',
      '"text"',
      JSON.stringify({ ...offline, id: 'x' }),
      JSON.stringify({ ...offline, at: '1700000000123' }),
      JSON.stringify({ ...offline, reason: 7 }),
      JSON.stringify({ ...offline, clientId: undefined }),
    ];
    for (const message of bad) expect(eventFromMessage(message)).toBeNull();
  });
});
