import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

// The partition tests' proxy holds bytes rather than dropping them: checked here against an echo server.

let echo: Server;
let proxy: TcpProxy;
const sockets: Socket[] = [];
/** The echo server's ends of its connections. */
const served: Socket[] = [];

afterEach(async () => {
  for (const socket of [...sockets.splice(0), ...served.splice(0)]) socket.destroy();
  await proxy?.close();
  await new Promise((resolve) => echo?.close(resolve));
});

async function setup(): Promise<void> {
  echo = createServer((socket) => {
    served.push(socket);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  proxy = await TcpProxy.start({ port: (echo.address() as { port: number }).port });
}

/** A client of the proxy and everything it has read. */
async function client(): Promise<{ socket: Socket; read: () => string; closed: () => boolean }> {
  const socket = connect(proxy.port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  let data = '';
  let closed = false;
  socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  return { socket, read: () => data, closed: () => closed };
}

describe('TcpProxy', () => {
  it('forwards both ways, holds everything while cut, and delivers it in order when resumed', async () => {
    await setup();
    const a = await client();
    a.socket.write('one ');
    await waitFor(() => a.read() === 'one ', { what: 'the echo' });
    proxy.hold();
    a.socket.write('two ');
    a.socket.write('three ');
    await directRoundTrip();
    expect(a.read()).toBe('one ');
    expect(a.closed()).toBe(false);
    proxy.resume();
    await waitFor(() => a.read() === 'one two three ', { what: 'the held bytes' });
  });

  it('accepts a connection while cut and connects it through only when resumed', async () => {
    await setup();
    proxy.hold();
    const b = await client();
    b.socket.write('early');
    await directRoundTrip();
    expect(b.read()).toBe('');
    expect(served).toHaveLength(1);
    proxy.resume();
    await waitFor(() => b.read() === 'early', { what: 'the bytes sent while cut' });
  });

  it('tells the client of a closed server only once the link is back', async () => {
    await setup();
    const c = await client();
    c.socket.write('x');
    await waitFor(() => c.read() === 'x', { what: 'the echo' });
    proxy.hold();
    for (const socket of served) socket.destroy();
    await directRoundTrip();
    expect(c.closed()).toBe(false);
    proxy.resume();
    await waitFor(() => c.closed(), { what: 'the close to reach the client' });
  });
});

/**
 * A sentinel on a path the proxy does not cut: once a direct client's bytes have made the round
 * trip through the echo server, anything the proxy was going to forward would have arrived too.
 */
async function directRoundTrip(): Promise<void> {
  const direct = connect((echo.address() as { port: number }).port, '127.0.0.1');
  sockets.push(direct);
  let read = '';
  direct.setEncoding('utf8').on('data', (chunk: string) => (read += chunk));
  direct.write('direct');
  await waitFor(() => read === 'direct', { what: 'the direct echo' });
}
