import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../services/api/src/api-routes.js';
import { openApiPath } from '../../services/api/src/api-spec.js';
import { Stack } from '../support/stack.js';
import { testRedisUrl } from '../support/test-store.js';

// The API describes itself: GET /openapi.json (generated from the routes' zod schemas) and the
// reference rendered from it at build time (`npm run build`), served at GET /docs/api.
let stack: Stack;

beforeAll(async () => {
  // With read tokens set: the document and the reference stay open, as /healthz does.
  stack = await Stack.start({ redisUrl: testRedisUrl(), edges: 0, sweepers: 0, env: { API_TOKENS: 'docs-test-token-0123456789' } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('the API reference', () => {
  it('GET /openapi.json is an OpenAPI 3.1 document of every route, open without a token', async () => {
    const response = await fetch(`${stack.apiUrl}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
    expect(operations.sort()).toEqual(API_ROUTES.map((route) => `${route.method} ${openApiPath(route.path)}`).sort());
    expect(operations).toEqual(
      expect.arrayContaining(['get /v1/presence/{clientId}', 'get /v1/events', 'post /v1/webhooks', 'get /metrics']),
    );
  });

  it('GET /docs/api is the rendered reference, a page that loads nothing from elsewhere', async () => {
    const response = await fetch(`${stack.apiUrl}/docs/api`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('<title>Presence API</title>');
    expect(html).toContain('/v1/presence/{clientId}');
    // Scripts and styles are inlined: no src= or href= to another host (links in the text are fine).
    expect(html.match(/<(script|link)\b[^>]*\b(src|href)="https?:\/\/[^"]*"/g) ?? []).toEqual([]);
  });
});
