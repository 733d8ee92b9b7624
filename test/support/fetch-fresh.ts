import { request as httpRequest } from 'node:http';
import { recordResponse } from './contract-recorder.js';

/**
 * fetch over a connection of its own: a pooled keep-alive socket left idle for about the server's
 * keep-alive timeout (5 s) can be closed by the server just as a request goes out on it, which
 * fails a POST with "other side closed".
 */
export function fetchFresh(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        const response = new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers });
        // The contract test holds the API's answers against its OpenAPI document.
        recordResponse(init.method ?? 'GET', url, response).then(() => resolve(response), reject);
      });
      res.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}
