/**
 * A load generator process for the WebSocket idle scenario: opens `count` connections to one server,
 * over WebSocket (one frame per message, the `ws` client) or TCP (newline framing), says HELLO on
 * each, waits for the first answer, then sends PING every `intervalMs` (spread over the interval).
 * The parent talks to it over IPC: { cmd: 'open' } → { opened, failed }; { cmd: 'close' } closes all.
 * Usage (forked): idle-client-worker.js <ws|wsz|tcp> <url or port> <count> <prefix> <intervalMs>
 * (`wsz`: WebSocket offering permessage-deflate).
 */
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';

const [mode, target, countArg, prefix, intervalArg] = process.argv.slice(2) as [string, string, string, string, string];
const count = Number(countArg);
const intervalMs = Number(intervalArg);
const CONCURRENCY = 50;
const wsConns: WebSocket[] = [];
const tcpConns: Socket[] = [];

function openWs(id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(target, { perMessageDeflate: mode === 'wsz' });
    ws.once('open', () => ws.send(`HELLO ${id}`));
    ws.once('message', () => {
      wsConns.push(ws);
      resolve(true);
    });
    ws.once('error', () => resolve(false));
    ws.once('close', () => resolve(false));
  });
}

function openTcp(id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(Number(target), '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('connect', () => socket.write(`HELLO ${id}\n`));
    socket.once('data', () => {
      tcpConns.push(socket);
      socket.on('data', () => {});
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

async function openAll(): Promise<{ opened: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < count) {
      const id = `${prefix}${next++}`;
      if (!(await (mode === 'tcp' ? openTcp(id) : openWs(id)))) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  // Heartbeats spread evenly over the interval, as independent clients would send them.
  const all = mode === 'tcp' ? tcpConns.length : wsConns.length;
  for (let i = 0; i < all; i += 1) {
    setTimeout(
      () => {
        const ping = () => (mode === 'tcp' ? tcpConns[i]?.write('PING\n') : wsConns[i]?.send('PING'));
        ping();
        setInterval(ping, intervalMs);
      },
      Math.floor((i / all) * intervalMs),
    );
  }
  return { opened: all, failed };
}

process.on('message', (message: { cmd: string }) => {
  if (message.cmd === 'open') void openAll().then((result) => process.send?.(result));
  if (message.cmd === 'close') {
    for (const ws of wsConns) ws.terminate();
    for (const socket of tcpConns) socket.destroy();
    process.exit(0);
  }
});
