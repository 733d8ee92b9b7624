import { IncomingMessage, type Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createHttpServer } from './http-server.js';

/** The request and response constructors a server was created with (Node keeps them under symbols). */
function constructorOf(server: Server, name: 'IncomingMessage' | 'ServerResponse'): new (...args: unknown[]) => object {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === name);
  expect(key).toBeDefined();
  return (server as unknown as Record<symbol, new (...args: unknown[]) => object>)[key as symbol] as new (...args: unknown[]) => object;
}

describe('createHttpServer', () => {
  it("creates requests and responses with the app's prototypes, so express need not change them", () => {
    const app = express();
    const server = createHttpServer(app);
    const req = new (constructorOf(server, 'IncomingMessage'))(new Socket()) as IncomingMessage;
    const res = new (constructorOf(server, 'ServerResponse'))(req) as ServerResponse;
    expect(Object.getPrototypeOf(req)).toBe(app.request);
    expect(Object.getPrototypeOf(res)).toBe(app.response);
    expect(req).toBeInstanceOf(IncomingMessage);
    expect(res).toBeInstanceOf(ServerResponse);
    // Initialised as Node's own: a response to this request is an HTTP/1.1 200 with no headers yet.
    expect(res.statusCode).toBe(200);
    expect(res.getHeaderNames()).toEqual([]);
    expect(req.headers).toEqual({});
  });
});
