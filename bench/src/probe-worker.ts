/**
 * An event probe process: subscribes to offline notifications the way a user of each design would
 * (our SSE stream, Redis keyspace `expired` events, MQTT last wills) and stamps each arrival on
 * CLOCK_MONOTONIC. Forked by the orchestrator; commands arrive over IPC.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { Redis } from 'ioredis';
import { monoMs } from './clock.js';
import { MqttReader, PINGREQ, connectPacket, subscribePacket } from './mqtt-codec.js';

export type ProbeCommand =
  | { cmd: 'sse'; url: string }
  | { cmd: 'keyspace'; url: string; keyPrefix: string }
  | { cmd: 'mqtt'; port: number }
  | { cmd: 'count' }
  | { cmd: 'collect'; clear: boolean }
  | { cmd: 'written' }
  | { cmd: 'exit' };

export interface ProbeCount {
  offline: number;
  /** SSE: times the API dropped the subscriber and it resumed with Last-Event-ID. */
  reconnects: number;
  online: number;
  reasons: Record<string, number>;
}

/** First offline arrival per client id. */
let arrivals = new Map<string, number>();
/** SSE only: when Redis wrote the event (epoch ms, from its stream entry id), per client id. */
let written = new Map<string, number>();
let online = 0;
let reasons: Record<string, number> = {};

function record(clientId: string, reason: string): void {
  if (arrivals.has(clientId)) return;
  arrivals.set(clientId, monoMs());
  reasons[reason] = (reasons[reason] ?? 0) + 1;
}

let reconnects = 0;

/**
 * Reads the SSE stream as EventSource would: on a drop (the API drops readers it judges slow) it
 * reconnects with Last-Event-ID, so events still retained in the streams are not lost.
 */
function startSse(url: string, lastEventId: string | null = null): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== null) headers['last-event-id'] = lastEventId;
    let last = lastEventId;
    const req = request(url, { headers }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE answered ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      let opened = false;
      res.on('data', (chunk: string) => {
        buffer = buffer.length === 0 ? chunk : buffer + chunk;
        let from = 0;
        let end = buffer.indexOf('\n\n', from);
        while (end !== -1) {
          const block = buffer.slice(from, end);
          from = end + 2;
          end = buffer.indexOf('\n\n', from);
          if (!opened) {
            opened = true;
            resolve();
          }
          let type = '';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data = line.slice(6);
            else if (line.startsWith('id: ')) last = line.slice(4);
          }
          if (type === 'offline') {
            const event = JSON.parse(data) as { id: string; clientId: string; reason: string };
            if (!written.has(event.clientId)) written.set(event.clientId, Number(event.id.split('-')[1]));
            record(event.clientId, event.reason);
          } else if (type === 'online') online += 1;
        }
        buffer = from === 0 ? buffer : buffer.slice(from);
      });
      // The API ends a dropped subscriber's response by destroying it: 'close' comes in every case.
      let resumed = false;
      const resume = () => {
        if (resumed) return;
        resumed = true;
        reconnects += 1;
        setTimeout(() => void startSse(url, last).catch(() => {}), 10);
      };
      res.on('error', () => {});
      res.on('close', resume);
    });
    req.on('error', (error) => {
      reject(error);
    });
    req.end();
  });
}

async function startKeyspace(url: string, keyPrefix: string): Promise<void> {
  const subscriber = new Redis(url);
  subscriber.on('pmessage', (_pattern: string, _channel: string, key: string) => {
    if (key.startsWith(keyPrefix)) record(key.slice(keyPrefix.length), 'expired');
  });
  await subscriber.psubscribe('__keyevent@*__:expired');
}

function startMqtt(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const reader = new MqttReader();
    socket.on('connect', () => {
      socket.write(connectPacket(`bench-probe-${process.pid}`, 60, null));
      socket.write(subscribePacket(1, 'will/#'));
      setInterval(() => socket.write(PINGREQ), 30_000).unref();
    });
    socket.on('data', (chunk: Buffer) =>
      reader.push(chunk, (packet) => {
        if (packet.type === 'suback') resolve();
        else if (packet.type === 'publish' && packet.topic.startsWith('will/')) record(packet.topic.slice(5), 'will');
      }),
    );
    socket.on('error', reject);
  });
}

async function handle(command: ProbeCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'sse':
      return startSse(command.url);
    case 'keyspace':
      return startKeyspace(command.url, command.keyPrefix);
    case 'mqtt':
      return startMqtt(command.port);
    case 'count':
      return { offline: arrivals.size, online, reasons, reconnects } satisfies ProbeCount;
    case 'collect': {
      const entries = [...arrivals];
      if (command.clear) {
        arrivals = new Map();
        written = new Map();
        reasons = {};
        online = 0;
      }
      return entries;
    }
    case 'written':
      return [...written];
    case 'exit':
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (message: { id: number; command: ProbeCommand }) => {
  handle(message.command).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
