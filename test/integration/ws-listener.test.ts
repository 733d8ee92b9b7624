import { describe, expect, it } from 'vitest';
import type { Connection, Transport } from '../../services/edge/src/connection.js';
import { createWsListener } from '../../services/edge/src/ws-transport.js';
import { UpgradeRefused, WsClient } from '../support/ws-client.js';

/** The WebSocket listener alone, over real sockets, with a connection that answers every frame PONG. */
function listener() {
  const silent = { isLevelEnabled: () => false, debug() {}, info() {}, warn() {}, error() {} };
  const accept = (transport: Transport) =>
    ({
      open: true,
      receive: () => {
        transport.write('PONG\n');
        return true;
      },
      close: () => {},
      refuse: () => {},
      checkBacklog: () => {},
    }) as unknown as Connection;
  return createWsListener(
    accept,
    { host: '127.0.0.1', port: 0, origins: { kind: 'any' }, compression: false, handshakeTimeoutMs: 1_000 },
    silent as never,
  );
}

describe('the WebSocket listener paused by the fence', () => {
  it('refuses new connections while paused, keeps the open ones, and accepts again on its port once resumed', async () => {
    const ws = listener();
    const { port } = await ws.listen();
    const url = WsClient.url(port);
    const open = await WsClient.connect(url);
    open.send('PING');
    expect(await open.next()).toBe('PONG');

    ws.pause();
    await expect(WsClient.connect(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    open.send('PING');
    expect(await open.next()).toBe('PONG');

    await ws.resume();
    const again = await WsClient.connect(url);
    again.send('PING');
    expect(await again.next()).toBe('PONG');
    open.destroy();
    again.destroy();
    await ws.close();
  });

  it('answers another path 404 before any upgrade', async () => {
    const ws = listener();
    const { port } = await ws.listen();
    await expect(WsClient.connect(`ws://127.0.0.1:${port}/elsewhere`)).rejects.toBeInstanceOf(UpgradeRefused);
    await ws.close();
  });
});
