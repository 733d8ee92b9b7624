import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectPacket, MqttReader, subscribePacket, type MqttPacket } from './mqtt-codec.js';

// Server-to-client packets, encoded here independently of the reader under test (MQTT 3.1.1 §2.2.3).
function encode(type: number, body: Buffer): Buffer {
  const length: number[] = [];
  let rest = body.length;
  do {
    length.push((rest & 0x7f) | (rest > 0x7f ? 0x80 : 0));
    rest >>= 7;
  } while (rest > 0);
  return Buffer.concat([Buffer.from([type, ...length]), body]);
}

function wire(packet: MqttPacket): Buffer {
  switch (packet.type) {
    case 'connack':
      return encode(0x20, Buffer.from([0, packet.returnCode]));
    case 'suback':
      return encode(0x90, Buffer.from([0, 1, 0]));
    case 'pingresp':
      return encode(0xd0, Buffer.alloc(0));
    case 'publish': {
      const topic = Buffer.from(packet.topic, 'utf8');
      const header = Buffer.alloc(2);
      header.writeUInt16BE(topic.length);
      return encode(0x30, Buffer.concat([header, topic, packet.payload]));
    }
    case 'other':
      return encode(packet.code, Buffer.alloc(0));
  }
}

const packetArb: fc.Arbitrary<MqttPacket> = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map((returnCode) => ({ type: 'connack' as const, returnCode })),
  fc.constant({ type: 'suback' as const }),
  fc.constant({ type: 'pingresp' as const }),
  fc.record({
    type: fc.constant('publish' as const),
    topic: fc.string({ maxLength: 40 }),
    // Up to 20,000 bytes: remaining lengths of one, two and three bytes.
    payload: fc.uint8Array({ maxLength: 20_000 }).map((bytes) => Buffer.from(bytes)),
  }),
  fc.constant({ type: 'other' as const, code: 0xb0 }),
);

describe('MqttReader', () => {
  it('yields the packets that were sent, however the byte stream is split', () => {
    fc.assert(
      fc.property(fc.array(packetArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (packets, cuts) => {
        const stream = Buffer.concat(packets.map(wire));
        const offsets = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = new MqttReader();
        const seen: MqttPacket[] = [];
        let from = 0;
        for (const to of [...offsets, stream.length]) {
          reader.push(stream.subarray(from, to), (p) => seen.push(p));
          from = to;
        }
        expect(seen).toEqual(packets);
      }),
      { numRuns: 200 },
    );
  });
});

describe('client packets', () => {
  it('encodes CONNECT as MQTT 3.1.1 specifies', () => {
    // Fixed header, "MQTT", level 4, flags clean session, keepalive 10, client id "c1".
    expect(connectPacket('c1', 10, null).toString('hex')).toBe('100e00044d5154540402000a00026331');
    const withWill = connectPacket('c1', 300, { topic: 't', payload: 'x' });
    expect(withWill[9]).toBe(0x06); // clean session + will flag, QoS 0
    expect(withWill.readUInt16BE(10)).toBe(300);
    expect(withWill.subarray(-6).toString('hex')).toBe('000174000178');
  });

  it('encodes SUBSCRIBE with the reserved flags and QoS 0', () => {
    expect(subscribePacket(7, 'a/b').toString('hex')).toBe('820800070003612f6200');
  });
});
