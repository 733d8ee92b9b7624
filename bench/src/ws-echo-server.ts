/**
 * Baseline for the WebSocket idle row: a plain `ws` server that does nothing but echo each message
 * back (no presence logic, no Redis), configured as the edge's WebSocket port is (no compression).
 * It prices what Node and `ws` cost per connection. Usage: node ws-echo-server.js <port> [deflate]
 * (`deflate`: permessage-deflate on, to price what offering compression would cost).
 */
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const deflate = process.argv[3] === 'deflate';
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: deflate, clientTracking: false });
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
