import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FrameDecoder } from '@presence/protocol';
import type { Endpoint, Link, LinkHandlers } from './link.js';

/** Opens the byte stream to a TCP endpoint (TLS, a proxy, a test double); defaults to a TCP socket. */
export type CreateConnection = (endpoint: Endpoint) => Duplex;

/** The TCP binding (docs/protocol.md): newline-terminated frames over a byte stream. Node only. */
export function openTcpLink(endpoint: Endpoint, handlers: LinkHandlers, createConnection: CreateConnection = openTcp): Link {
  const socket = createConnection(endpoint);
  const decoder = new FrameDecoder();
  let socketError: Error | null = null;
  let done = false;
  socket.on('data', (chunk: Buffer | string) => {
    if (done) return;
    try {
      decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, (frame) => {
        handlers.frame(frame.toString('utf8'));
        return !done;
      });
    } catch (error) {
      socketError = error instanceof Error ? error : new Error(String(error));
      socket.destroy();
    }
  });
  socket.on('error', (error: Error) => {
    socketError = error;
  });
  socket.on('close', () => {
    if (done) return;
    done = true;
    handlers.closed(socketError);
  });
  return {
    send: (frame) => {
      // Written at once: a socket buffers writes until it is connected.
      socket.write(`${frame}\n`);
    },
    end: (lastFrame) => {
      socket.end(`${lastFrame}\n`);
    },
    destroy: () => {
      done = true;
      socket.destroy();
    },
  };
}

function openTcp(endpoint: Endpoint): Socket {
  // Keepalive is only a second layer (the PING/PONG check comes first): it keeps NAT mappings warm.
  return netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
}
