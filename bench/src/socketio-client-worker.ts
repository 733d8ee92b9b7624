/**
 * A load generator process for the Socket.IO baseline of the channels scenario (forked through
 * IpcWorker, so that the clients never share an event loop with the servers): holds socket.io-client
 * sockets to one server, each its own connection (`forceNew`), over WebSocket only, and makes them
 * emit `join` / `leave` with an ack.
 */
import { io, type Socket } from 'socket.io-client';
import { monoMs, sleep } from './clock.js';

export type SocketIoClientCommand =
  /** Connects `count` sockets (`concurrency` handshakes in flight). */
  | { cmd: 'open'; url: string; count: number; concurrency: number }
  /** Every socket joins `room` (`concurrency` acks outstanding); answers with the acks received. */
  | { cmd: 'joinAll'; room: string; concurrency: number }
  /**
   * The first `sockets` sockets emit `event` at `rate` per second for `seconds` s, each to the room
   * `rate:<round>:<n % 97>` (the names of our own join test): a `leave` run after a `join` run of the
   * same shape leaves exactly the rooms that were joined. Answers with each ack's latency (ms).
   */
  | { cmd: 'paced'; event: 'join' | 'leave'; sockets: number; rate: number; seconds: number }
  | { cmd: 'exit' };

export interface SocketIoOpenResult {
  connected: number;
  failed: number;
  errors: string[];
}

export interface SocketIoPacedResult {
  sent: number;
  latencies: number[];
  failed: number;
  elapsedSeconds: number;
}

const ACK_TIMEOUT_MS = 30_000;
const sockets: Socket[] = [];

function connectOne(url: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = io(url, { forceNew: true, transports: ['websocket'], reconnection: false, timeout: 30_000 });
    socket.once('connect', () => {
      sockets.push(socket);
      resolve(null);
    });
    socket.once('connect_error', (error) => {
      socket.close();
      resolve(error.message);
    });
  });
}

async function open(url: string, count: number, concurrency: number): Promise<SocketIoOpenResult> {
  let next = 0;
  const errors = new Map<string, number>();
  const lane = async () => {
    while (next < count) {
      next += 1;
      const error = await connectOne(url);
      if (error !== null) errors.set(error, (errors.get(error) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const failed = [...errors.values()].reduce((a, b) => a + b, 0);
  return { connected: count - failed, failed, errors: [...errors].map(([message, n]) => `${n}× ${message}`) };
}

/** Emits with an ack; resolves with the ack's latency in ms, or null when it timed out. */
function emitTimed(socket: Socket, event: string, room: string): Promise<number | null> {
  const started = monoMs();
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, room, (error: Error | null) => resolve(error === null ? monoMs() - started : null));
  });
}

async function joinAll(room: string, concurrency: number): Promise<number> {
  let next = 0;
  let acked = 0;
  const lane = async () => {
    while (next < sockets.length) {
      const socket = sockets[next++] as Socket;
      if ((await emitTimed(socket, 'join', room)) !== null) acked += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return acked;
}

async function paced(command: Extract<SocketIoClientCommand, { cmd: 'paced' }>): Promise<SocketIoPacedResult> {
  const total = command.rate * command.seconds;
  const count = Math.min(command.sockets, sockets.length);
  const pending: Promise<number | null>[] = [];
  const started = monoMs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((monoMs() - started) / 1_000) * command.rate));
    for (; sent < due; sent += 1) {
      const socket = sockets[sent % count] as Socket;
      pending.push(emitTimed(socket, command.event, `rate:${Math.floor(sent / count)}:${sent % 97}`));
    }
    await sleep(5);
  }
  const results = await Promise.all(pending);
  const elapsedSeconds = (monoMs() - started) / 1_000;
  const latencies = results.filter((r): r is number => r !== null);
  return { sent, latencies, failed: results.length - latencies.length, elapsedSeconds };
}

async function handle(command: SocketIoClientCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'open':
      return open(command.url, command.count, command.concurrency);
    case 'joinAll':
      return joinAll(command.room, command.concurrency);
    case 'paced':
      return paced(command);
    case 'exit':
      for (const socket of sockets) socket.disconnect();
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (message: { id: number; command: SocketIoClientCommand }) => {
  handle(message.command).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
