/**
 * A webhook receiver process for the webhooks scenario: answers every POST with 204 and stamps each
 * event's arrival (wall clock, the clock Redis's `at` comes from on this machine). Forked by the
 * orchestrator so that its own work does not disturb the measuring process; commands over IPC.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

export type ReceiverCommand =
  | { cmd: 'listen'; port: number }
  | { cmd: 'close' }
  | { cmd: 'stats' }
  | { cmd: 'delays'; since: number }
  | { cmd: 'reset' }
  | { cmd: 'exit' };

export interface ReceiverStats {
  requests: number;
  /** Events received, repeats included. */
  events: number;
  /** Distinct event ids received. */
  unique: number;
  /** Wall-clock time of the last request with an event not seen before. */
  lastNewAt: number;
}

/** First arrival (Date.now()) per event id, and the event's `at`. */
let firstArrival = new Map<string, { receivedAt: number; at: number }>();
let requests = 0;
let events = 0;
let lastNewAt = 0;
let server: Server | null = null;
const sockets = new Set<Socket>();

function listen(port: number): Promise<void> {
  const created = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const receivedAt = Date.now();
      requests += 1;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: { id: string; at: number }[] };
      for (const event of body.events) {
        events += 1;
        if (firstArrival.has(event.id)) continue;
        firstArrival.set(event.id, { receivedAt, at: event.at });
        lastNewAt = receivedAt;
      }
      res.writeHead(204).end();
    });
  });
  created.keepAliveTimeout = 65_000;
  created.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    created.once('error', reject);
    created.listen(port, '127.0.0.1', () => {
      server = created;
      resolve();
    });
  });
}

async function handle(command: ReceiverCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'listen':
      await listen(command.port);
      return null;
    case 'close': {
      // Down: new connections are refused and open ones reset, as when a receiver's host dies.
      const closing = server;
      server = null;
      for (const socket of sockets) socket.destroy();
      if (closing !== null) await new Promise<void>((resolve) => closing.close(() => resolve()));
      return null;
    }
    case 'stats':
      return { requests, events, unique: firstArrival.size, lastNewAt } satisfies ReceiverStats;
    case 'delays':
      // Event → first arrival, ms, for the events that happened at or after `since` (epoch ms).
      return [...firstArrival.values()].filter((arrival) => arrival.at >= command.since).map((arrival) => arrival.receivedAt - arrival.at);
    case 'reset':
      firstArrival = new Map();
      requests = 0;
      events = 0;
      lastNewAt = 0;
      return null;
    case 'exit':
      process.exit(0);
  }
}

process.on('message', (message: { id: number; command: ReceiverCommand }) => {
  handle(message.command).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
