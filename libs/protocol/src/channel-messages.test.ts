import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNEL_PATTERN, isValidChannel } from './channel-name.js';
import { CHANNEL_NACK_CODES } from './errors.js';
import { parseClientFrame, type ClientMessage } from './messages.js';
import { channelAckFrame, nackFrame } from './server-frames.js';

const parse = (text: string, maxStateBytes?: number): ClientMessage => parseClientFrame(Buffer.from(text), maxStateBytes);

describe('channel commands', () => {
  it('reads JOIN with and without state, LEAVE and SET', () => {
    expect(parse('JOIN room:1')).toEqual({ type: 'join', channel: 'room:1', stateJson: null });
    expect(parse('JOIN a/b@c.d_e-f {"x" : 1}')).toEqual({ type: 'join', channel: 'a/b@c.d_e-f', stateJson: '{"x":1}' });
    expect(parse('LEAVE room:1')).toEqual({ type: 'leave', channel: 'room:1' });
    expect(parse('SET room:1 {"typing":true}')).toEqual({ type: 'set', channel: 'room:1', stateJson: '{"typing":true}' });
  });

  it('turns bad channel requests into a NACK, never an error that ends the session', () => {
    const nack = (text: string) => {
      const message = parse(text, 16);
      if (message.type !== 'channel-error') throw new Error(`expected a channel error for ${text}, got ${message.type}`);
      return [message.channel, message.code];
    };
    expect(nack('JOIN')).toEqual(['-', 'bad_frame']);
    expect(nack('JOIN ')).toEqual(['-', 'bad_frame']);
    expect(nack('JOIN a{b}')).toEqual(['a{b}', 'bad_channel']);
    expect(nack('JOIN é\x01')).toEqual(['??', 'bad_channel']);
    expect(nack(`JOIN ${'x'.repeat(201)}`)).toEqual(['x'.repeat(200), 'bad_channel']);
    expect(nack('JOIN room {"a":')).toEqual(['room', 'bad_state']);
    expect(nack('JOIN room [1]')).toEqual(['room', 'bad_state']);
    expect(nack('JOIN room {"long":"xxxxxxxxxxxxxxxx"}')).toEqual(['room', 'bad_state']);
    expect(nack('LEAVE room extra')).toEqual(['room', 'bad_frame']);
    expect(nack('SET room')).toEqual(['room', 'bad_frame']);
    expect(nack('SET a,b {}')).toEqual(['a,b', 'bad_channel']);
  });

  it('accepts exactly the documented names', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 220 }), (name) => {
        expect(isValidChannel(name)).toBe(CHANNEL_PATTERN.test(name));
        const message = parse(`LEAVE ${name}`);
        if (isValidChannel(name)) expect(message).toEqual({ type: 'leave', channel: name });
        else expect(message.type === 'channel-error' || message.type === 'leave').toBe(true);
      }),
    );
    expect(isValidChannel('x'.repeat(200))).toBe(true);
    expect(isValidChannel('x'.repeat(201))).toBe(false);
    for (const bad of ['', 'a b', 'a|b', 'a=b', 'a,b', '{a}', 'a\n']) expect(isValidChannel(bad)).toBe(false);
  });

  it('writes acknowledgements and NACKs as one line each', () => {
    expect(channelAckFrame('JOINED', 'room:1', 2, 3)).toBe('JOINED room:1 2 3\n');
    expect(nackFrame('room:1', 'forbidden', 'not in\r\nyour token')).toBe('NACK room:1 forbidden not in your token\n');
    expect(CHANNEL_NACK_CODES).toContain('too_many_channels');
  });
});
