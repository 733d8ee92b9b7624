import { describe, expect, it } from 'vitest';
import {
  channelEventFromMessage,
  channelEventFromStreamFields,
  channelEventRef,
  encodeChannelEvent,
  formatChannelCursor,
  parseChannelCursor,
} from './channel-event.js';

describe('channel events', () => {
  it('decodes a stream entry and a pub/sub message to the same event', () => {
    const fields = ['type', 'leave', 'clientId', 'bob', 'sessionId', 's1', 'node', 'edge-1', 'at', '1700000000123'];
    fields.push('clients', '1', 'sessions', '2', 'version', '7', 'reason', 'closed');
    const fromStream = channelEventFromStreamFields('room:1', '1700000000200-0', fields);
    expect(fromStream).toEqual({
      id: '1700000000200-0',
      type: 'leave',
      channel: 'room:1',
      clientId: 'bob',
      sessionId: 's1',
      node: 'edge-1',
      reason: 'closed',
      at: 1700000000123,
      occupancy: { clients: 1, sessions: 2 },
      version: 7,
    });
    expect(channelEventFromMessage(JSON.stringify(fromStream))).toEqual(fromStream);
    // The encoder writes what the decoder reads, with the keys in the pub/sub message's order.
    expect(channelEventFromMessage(encodeChannelEvent(fromStream))).toEqual(fromStream);
    expect(Object.keys(JSON.parse(encodeChannelEvent({ ...fromStream, extra: 1 } as typeof fromStream)) as object)).toEqual([
      'id',
      'type',
      'channel',
      'clientId',
      'sessionId',
      'node',
      'reason',
      'at',
      'occupancy',
      'version',
    ]);
    expect(channelEventRef(fromStream)).toBe('room:1=1700000000200-0');
    expect(channelEventFromMessage('{"id":"1-0"}')).toBeNull();
    expect(channelEventFromMessage('not json')).toBeNull();
  });

  it('round-trips cursors and rejects what is not one', () => {
    const positions = new Map([
      ['room:1', '1-0'],
      ['a/b@c', '1700000000200-3'],
    ]);
    expect(formatChannelCursor(positions)).toBe('room:1=1-0,a/b@c=1700000000200-3');
    expect(parseChannelCursor(formatChannelCursor(positions))).toEqual(positions);
    for (const bad of ['room:1', 'room:1=x', '=1-0', 'a=1-0,,b=1-0']) expect(parseChannelCursor(bad)).toBeNull();
  });
});
