import { channelEventFromMessage, type ChannelEvent, type PresenceEvent } from '@presence/wire-format';
import { describe, expect, it } from 'vitest';
import { decodeEndpoint, encodeEndpoint, endpointWants, outgoingEvent, takesPresenceEvents, type WebhookEndpoint } from './endpoint.js';

const endpoint: WebhookEndpoint = {
  id: 'wh_1',
  url: 'https://example.com/hook',
  secret: 'whsec_0123456789abcdef',
  events: ['offline'],
  filter: { clientIdPrefixes: ['team-a:', 'bot-'], channels: [] },
  source: 'api',
  createdAt: 1_700_000_000_000,
  description: null,
};

const event = (type: string, clientId: string): PresenceEvent =>
  ({ id: '0-1-0', type, clientId, sessionId: 's', node: 'n', reason: null, at: 1 }) as PresenceEvent;

describe('endpointWants', () => {
  it('takes an event of one of its types whose client id starts with one of its prefixes', () => {
    expect(endpointWants(endpoint, event('offline', 'team-a:alice'))).toBe(true);
    expect(endpointWants(endpoint, event('offline', 'bot-7'))).toBe(true);
    expect(endpointWants(endpoint, event('online', 'team-a:alice'))).toBe(false);
    expect(endpointWants(endpoint, event('offline', 'team-b:bob'))).toBe(false);
    expect(endpointWants(endpoint, event('offline', 'xteam-a:alice'))).toBe(false);
  });

  it('takes every client when it lists no prefix', () => {
    const all = { ...endpoint, filter: { clientIdPrefixes: [], channels: [] } };
    expect(endpointWants(all, event('offline', 'anyone'))).toBe(true);
  });

  it('takes a type it lists even if this version does not know it (a newer writer)', () => {
    expect(endpointWants({ ...endpoint, events: ['kicked'], filter: { clientIdPrefixes: [], channels: [] } }, event('kicked', 'c'))).toBe(
      true,
    );
  });
});

const channelEvent = (type: string, channel: string, clientId: string): ChannelEvent =>
  ({
    id: '1700000000000-0',
    type,
    channel,
    clientId,
    sessionId: 's',
    node: 'n',
    reason: type === 'leave' ? 'left' : null,
    at: 1,
    occupancy: { clients: 1, sessions: 1 },
    version: 1,
  }) as ChannelEvent;

describe('endpointWants, channel events', () => {
  const inRooms: WebhookEndpoint = {
    ...endpoint,
    events: ['online', 'join', 'leave'],
    filter: { clientIdPrefixes: ['team-a:'], channels: ['room:1', 'room:2'] },
  };

  it('takes the channel events of the channels it names, of its types and clients', () => {
    expect(endpointWants(inRooms, channelEvent('join', 'room:1', 'team-a:alice'))).toBe(true);
    expect(endpointWants(inRooms, channelEvent('leave', 'room:2', 'team-a:alice'))).toBe(true);
    expect(endpointWants(inRooms, channelEvent('join', 'room:3', 'team-a:alice'))).toBe(false);
    expect(endpointWants(inRooms, channelEvent('join', 'room:10', 'team-a:alice'))).toBe(false);
    expect(endpointWants(inRooms, channelEvent('update', 'room:1', 'team-a:alice'))).toBe(false);
    expect(endpointWants(inRooms, channelEvent('join', 'room:1', 'team-b:bob'))).toBe(false);
  });

  it('takes no channel event without channels, and online/offline whatever its channels', () => {
    const none = { ...inRooms, filter: { clientIdPrefixes: [], channels: [] } };
    expect(endpointWants(none, channelEvent('join', 'room:1', 'a'))).toBe(false);
    expect(endpointWants(inRooms, event('online', 'team-a:alice'))).toBe(true);
    expect([takesPresenceEvents(inRooms), takesPresenceEvents({ events: ['join', 'leave'] })]).toEqual([true, false]);
  });
});

describe('outgoingEvent', () => {
  it('sends a channel event as the SSE stream does, named by channel in Presence-Event-Ids', () => {
    const joined = channelEvent('join', 'room:1', 'alice');
    const out = outgoingEvent(joined);
    expect(out.id).toBe('room:1=1700000000000-0');
    expect(channelEventFromMessage(out.json)).toEqual(joined);
    expect(outgoingEvent(event('online', 'alice'))).toEqual({ id: '0-1-0', at: 1, json: JSON.stringify(event('online', 'alice')) });
  });
});

describe('decodeEndpoint', () => {
  it('reads back what encodeEndpoint wrote', () => {
    expect(decodeEndpoint(encodeEndpoint(endpoint))).toEqual(endpoint);
  });

  it('reads an endpoint stored before channels existed as one without channels', () => {
    const old = JSON.stringify({ ...endpoint, filter: { clientIdPrefixes: ['a'] } });
    expect(decodeEndpoint(old)?.filter).toEqual({ clientIdPrefixes: ['a'], channels: [] });
  });

  it('returns null for an entry that is not an endpoint', () => {
    for (const json of [
      'not json',
      'null',
      '[]',
      JSON.stringify({ ...endpoint, url: 7 }),
      JSON.stringify({ ...endpoint, events: 'offline' }),
      JSON.stringify({ ...endpoint, source: 'elsewhere' }),
      JSON.stringify({ ...endpoint, createdAt: '1' }),
      JSON.stringify({ ...endpoint, filter: {} }),
      JSON.stringify({ ...endpoint, filter: { clientIdPrefixes: [1] } }),
      JSON.stringify({ ...endpoint, filter: { clientIdPrefixes: [], channels: 'room:1' } }),
    ]) {
      expect(decodeEndpoint(json), json).toBeNull();
    }
  });
});
