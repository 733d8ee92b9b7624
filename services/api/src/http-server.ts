import { IncomingMessage, type Server, ServerResponse, createServer } from 'node:http';
import type { Express } from 'express';

type Constructor = (this: object, ...args: unknown[]) => void;

/**
 * An HTTP server for `app` whose requests and responses are created with the app's own prototypes
 * (`app.request`, `app.response`). express gives every request and response those prototypes with
 * Object.setPrototypeOf; on Node 20 that costs more CPU than the rest of a presence lookup and sends
 * objects to the old generation, so GC runs far more often. Born with them, the call changes nothing.
 *
 * Node's IncomingMessage and ServerResponse are plain constructor functions, which a subclass of
 * this kind relies on; should a Node version make them classes, this falls back to a plain server.
 */
export function createHttpServer(app: Express): Server {
  if (isClass(IncomingMessage) || isClass(ServerResponse)) return createServer(app);
  return createServer(
    { IncomingMessage: inherit(IncomingMessage, app.request), ServerResponse: inherit(ServerResponse, app.response) },
    app,
  );
}

function isClass(fn: unknown): boolean {
  return Function.prototype.toString.call(fn).startsWith('class');
}

/** A constructor that initialises like `base` and creates objects with `prototype`. */
function inherit<T>(base: T, prototype: object): T {
  const init = base as unknown as Constructor;
  function Derived(this: object, ...args: unknown[]): void {
    init.apply(this, args);
  }
  Derived.prototype = prototype;
  return Derived as unknown as T;
}
