/**
 * Baseline for the channels scenario: a Socket.IO server with `@socket.io/redis-adapter`, the way
 * Socket.IO users share rooms between nodes. A client emits `join` or `leave` with a room name and
 * an ack; the server does `socket.join(room)` / `socket.leave(room)` and acks. "Who is in the room"
 * is `GET /fetch-sockets?room=R` on the same port: `await io.in(R).fetchSockets()`, which asks every
 * other node over Redis pub/sub (the adapter's request/response) and waits for all their answers;
 * the reply is the count and the socket ids.
 *
 * `GET /local?room=R` gives this node's own sockets in R; `GET /redis` what the adapter has sent to
 * Redis so far (commands by name and PUBLISH payload bytes), counted where it sends them, since the
 * bench's Redis serves our own services at the same time.
 *
 * Usage: node socketio-server.js <port> <redisUrl> <adapterKey>
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis, type Command } from 'ioredis';
import { Server } from 'socket.io';

const [portArg, redisUrl, key] = process.argv.slice(2);
const port = Number(portArg);

const sent: { commands: Record<string, number>; publishBytes: number } = { commands: {}, publishBytes: 0 };
/** Counts each command a client sends (PUBLISH payload bytes too), then sends it as ioredis would. */
function counted(client: Redis): Redis {
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command: Command, stream?: Parameters<Redis['sendCommand']>[1]) => {
    sent.commands[command.name] = (sent.commands[command.name] ?? 0) + 1;
    if (command.name === 'publish') {
      const payload = command.args[1];
      sent.publishBytes += typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
    }
    return send(command, stream);
  };
  return client;
}

const pubClient = counted(new Redis(redisUrl ?? 'redis://127.0.0.1:6379'));
const subClient = counted(pubClient.duplicate());

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function admin(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const room = url.searchParams.get('room') ?? '';
  if (url.pathname === '/fetch-sockets') {
    const sockets = await io.in(room).fetchSockets();
    reply(res, 200, { count: sockets.length, ids: sockets.map((s) => s.id) });
  } else if (url.pathname === '/local') {
    reply(res, 200, { count: io.of('/').adapter.rooms.get(room)?.size ?? 0, sockets: io.of('/').sockets.size });
  } else if (url.pathname === '/redis') {
    reply(res, 200, sent);
  } else reply(res, 404, { error: 'not found' });
}

const http = createServer((req, res) => {
  admin(req, res).catch((error: unknown) => reply(res, 500, { error: String(error) }));
});
const io = new Server(http, { serveClient: false, adapter: createAdapter(pubClient, subClient, { key }) });
io.on('connection', (socket) => {
  socket.on('join', async (room: string, ack: (ok: boolean) => void) => {
    await socket.join(room);
    ack(true);
  });
  socket.on('leave', async (room: string, ack: (ok: boolean) => void) => {
    await socket.leave(room);
    ack(true);
  });
});
http.listen(port, '127.0.0.1');
