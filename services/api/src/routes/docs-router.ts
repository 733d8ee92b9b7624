import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { z } from 'zod';
import type { ApiRoute } from '../api-spec.js';
import { sendError } from '../http-errors.js';

/** Where `npm run build` writes the rendered reference (redocly build-docs of openapi.json). */
export const API_REFERENCE_FILE = fileURLToPath(new URL('../api-reference.html', import.meta.url));

export const docsRoutes: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'operations',
    auth: 'none',
    summary: 'This document (OpenAPI 3.1)',
    responses: { 200: { description: 'The OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: 'get',
    path: '/docs/api',
    tag: 'operations',
    auth: 'none',
    summary: 'This document, rendered (a static page built with the API, no CDN)',
    responses: { 200: { description: 'The API reference', schema: z.string(), contentType: 'text/html' } },
    errors: { 404: ['not_found'] },
  },
];

export interface DocsRouterDeps {
  /** The OpenAPI document (api-spec.ts). */
  document: object;
  /** The rendered reference; defaults to the build's. */
  referenceFile?: string;
}

/** GET /openapi.json and GET /docs/api: open to all, like /healthz (they describe the API, nothing of its data). */
export function createDocsRouter(deps: DocsRouterDeps): express.Router {
  const json = JSON.stringify(deps.document);
  const referenceFile = deps.referenceFile ?? API_REFERENCE_FILE;
  let reference: string | null = null;
  const router = express.Router();
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(json);
  });
  router.get('/docs/api', (_req, res) => {
    try {
      reference ??= readFileSync(referenceFile, 'utf8');
    } catch {
      sendError(res, 404, 'not_found', `the API reference was not built (${referenceFile}); run npm run build, or read /openapi.json`);
      return;
    }
    res.type('text/html').send(reference);
  });
  return router;
}
