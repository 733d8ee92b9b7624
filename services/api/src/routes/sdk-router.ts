/**
 * Serves the browser SDK and the example page, so that a page can import the client without a build
 * step: GET /sdk/presence-client.js (the bundle `npm run build` makes, libs/client/scripts/bundle.mjs),
 * its source map, and GET /examples/presence.html (examples/presence.html). Files are read once and
 * kept; a missing bundle is a 404 that says how to build it.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { sendError } from '../http-errors.js';

/** The repository (or image) root: this file runs from services/api/dist/routes/. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const FILES: Record<string, { file: string; type: string; summary: string }> = {
  '/sdk/presence-client.js': {
    file: 'libs/client/dist/browser/presence-client.js',
    type: 'text/javascript',
    summary: 'The browser SDK: an ES module with createPresenceClient (WebSocket), createHttpClient and the SSE iterator',
  },
  '/sdk/presence-client.js.map': {
    file: 'libs/client/dist/browser/presence-client.js.map',
    type: 'application/json',
    summary: "The browser SDK's source map",
  },
  '/examples/presence.html': {
    file: 'examples/presence.html',
    type: 'text/html',
    summary: 'The example page: present itself over WebSocket, a live list of who is online (README, In a browser)',
  },
};

export const sdkRoutes: readonly ApiRoute[] = Object.entries(FILES).map(([path, { type, summary }]) => ({
  method: 'get',
  path,
  tag: 'operations',
  auth: 'none',
  summary,
  responses: { 200: { description: 'The file', schema: z.string(), contentType: type } },
  errors: { 404: ['not_found'] },
}));

export function createSdkRouter(root: string = ROOT): express.Router {
  const router = express.Router();
  const cache = new Map<string, Promise<Buffer>>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    router.get(path, async (_req, res) => {
      let reading = cache.get(file);
      if (reading === undefined) {
        reading = readFile(`${root}${file}`);
        cache.set(file, reading);
      }
      let body: Buffer;
      try {
        body = await reading;
      } catch {
        cache.delete(file);
        sendError(res, 404, 'not_found', `${file} was not built: run npm run build (it bundles the browser SDK)`);
        return;
      }
      // Revalidated on every load (a deploy changes it), served from the browser's cache when unchanged.
      res.set({ 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
      // A module script from another origin is fetched with CORS: any page may import the SDK (it holds no data).
      if (path.startsWith('/sdk/')) res.set({ 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' });
      res.send(body);
    });
  }
  return router;
}
