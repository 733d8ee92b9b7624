/**
 * Baseline: a plain Node `net` server speaking the same line protocol, written the way one usually
 * writes it (a closure and a string buffer per socket, no Redis). It prices what Node itself costs
 * per connection, before any presence logic. Usage: node plain-server.js <port>
 */
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
let sessions = 0;
createServer((socket) => {
  socket.setNoDelay(true);
  socket.setEncoding('utf8');
  let buffer = '';
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let newline = buffer.indexOf('\n');
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (line.startsWith('PING')) socket.write('PONG\n');
      else if (line.startsWith('HELLO ')) socket.write(`WELCOME ${(sessions++).toString(16).padStart(20, '0')} 10000 30000\n`);
      else if (line === 'BYE') socket.end();
    }
  });
  socket.on('error', () => {});
}).listen(port, '127.0.0.1');
