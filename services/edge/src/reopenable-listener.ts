import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

/** The part of a listener that both transports share: listen, pause (stop accepting, keep open connections), resume. */
export interface ReopenableListener {
  listen(): Promise<AddressInfo>;
  /** Stops accepting for now (connects are refused, as when draining); open connections stay. */
  pause(): void;
  /** Accepts again, on the address it listened on first. */
  resume(): Promise<void>;
}

export function reopenableListener(server: NetServer | HttpServer, port: number, host: string): ReopenableListener {
  let bound: AddressInfo | null = null;
  const listenOn = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  return {
    async listen() {
      await listenOn(port);
      bound = server.address() as AddressInfo;
      return bound;
    },
    pause() {
      // No callback: it would wait for every open connection. Node allows listen() again after close().
      if (server.listening) server.close();
    },
    async resume() {
      if (server.listening || bound === null) return;
      await listenOn(bound.port);
    },
  };
}
