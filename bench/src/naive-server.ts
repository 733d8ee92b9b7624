/**
 * Baselines: the designs most tutorials write, speaking the same line protocol as our edge.
 *
 * - `zadd`: every HELLO and PING does `ZADD <prefix>:deadlines <now + ttl> <clientId>` and answers
 *   once Redis has; a socket close does ZREM. One Redis command per heartbeat.
 * - `setex`: every HELLO and PING does `SET <prefix>:hb:<clientId> 1 PX <ttl>`; offline is the key's
 *   `expired` keyspace notification (notify-keyspace-events Ex), nothing is written on close.
 *
 * Usage: node naive-server.js <port> <redisUrl> <zadd|setex> <ttlMs> <prefix>
 */
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

const [portArg, redisUrl, mode, ttlArg, prefix] = process.argv.slice(2);
const port = Number(portArg);
const ttl = Number(ttlArg);
if (mode !== 'zadd' && mode !== 'setex') throw new Error('mode must be zadd or setex');
const redis = new Redis(redisUrl ?? 'redis://127.0.0.1:6379');
const deadlines = `${prefix}:deadlines`;

function beat(clientId: string): Promise<unknown> {
  return mode === 'zadd' ? redis.zadd(deadlines, Date.now() + ttl, clientId) : redis.set(`${prefix}:hb:${clientId}`, '1', 'PX', ttl);
}

let sessions = 0;
createServer((socket) => {
  socket.setNoDelay(true);
  socket.setEncoding('utf8');
  let buffer = '';
  let clientId: string | null = null;
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (line.startsWith('PING') && clientId !== null) {
        beat(clientId).then(
          () => socket.write('PONG\n'),
          () => socket.destroy(),
        );
      } else if (line.startsWith('HELLO ')) {
        const id = line.slice(6).split(' ')[0] ?? '';
        clientId = id;
        beat(id).then(
          () => socket.write(`WELCOME ${(sessions++).toString(16).padStart(20, '0')} 10000 30000\n`),
          () => socket.destroy(),
        );
      } else if (line === 'BYE') socket.end();
    }
  });
  socket.on('close', () => {
    if (mode === 'zadd' && clientId !== null) void redis.zrem(deadlines, clientId).catch(() => {});
  });
  socket.on('error', () => {});
}).listen(port, '127.0.0.1');
