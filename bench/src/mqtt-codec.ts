/**
 * The few MQTT 3.1.1 packets the Mosquitto baseline needs, written by hand so that a load
 * generator process can hold thousands of MQTT connections as cheaply as line-protocol ones.
 */

export const PINGREQ = Buffer.from([0xc0, 0x00]);
const CONNACK = 0x20;
const PUBLISH = 0x30;
const SUBACK = 0x90;
const PINGRESP = 0xd0;

function utf8Field(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let value = length;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(body.length), body]);
}

/** CONNECT with a clean session, a keepalive and optionally a QoS 0 last will. */
export function connectPacket(clientId: string, keepaliveSeconds: number, will: { topic: string; payload: string } | null): Buffer {
  const flags = 0x02 | (will === null ? 0 : 0x04);
  const header = Buffer.concat([utf8Field('MQTT'), Buffer.from([0x04, flags, keepaliveSeconds >> 8, keepaliveSeconds & 0xff])]);
  const parts = [header, utf8Field(clientId)];
  if (will !== null) parts.push(utf8Field(will.topic), utf8Field(will.payload));
  return packet(0x10, Buffer.concat(parts));
}

export function subscribePacket(packetId: number, topic: string): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8Field(topic), Buffer.from([0x00])]));
}

export type MqttPacket =
  | { type: 'connack'; returnCode: number }
  | { type: 'suback' }
  | { type: 'pingresp' }
  | { type: 'publish'; topic: string; payload: Buffer }
  | { type: 'other'; code: number };

/** Splits a byte stream into MQTT packets. */
export class MqttReader {
  private pending: Buffer | null = null;

  push(chunk: Buffer, onPacket: (packet: MqttPacket) => void): void {
    const data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let offset = 0;
    for (;;) {
      if (data.length - offset < 2) break;
      let multiplier = 1;
      let length = 0;
      let cursor = offset + 1;
      let complete = false;
      while (cursor < data.length && cursor - offset <= 4) {
        const byte = data[cursor] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        cursor += 1;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || data.length - cursor < length) break;
      const first = data[offset] as number;
      const type = first & 0xf0;
      const body = data.subarray(cursor, cursor + length);
      offset = cursor + length;
      if (type === CONNACK) onPacket({ type: 'connack', returnCode: body[1] ?? 255 });
      else if (type === PINGRESP) onPacket({ type: 'pingresp' });
      else if (type === SUBACK) onPacket({ type: 'suback' });
      else if (type === PUBLISH) {
        const topicLength = body.readUInt16BE(0);
        const qos = (first >> 1) & 0x03;
        const topic = body.subarray(2, 2 + topicLength).toString('utf8');
        const payloadStart = 2 + topicLength + (qos > 0 ? 2 : 0);
        onPacket({ type: 'publish', topic, payload: body.subarray(payloadStart) });
      } else onPacket({ type: 'other', code: type });
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset));
  }
}
