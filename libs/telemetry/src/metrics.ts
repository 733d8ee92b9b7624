import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { listenOrExit, type ListenSetting } from './listen-or-exit.js';

/** A registry with the process metrics (CPU, RSS, event-loop lag) and `service` as a default label. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsServerOptions {
  /**
   * Why the process should get no work now (a load balancer's health check reads `/readyz`), or null
   * when it is ready. Without it, `/readyz` always answers ready.
   */
  notReady?: () => string | null;
}

/**
 * Serves `GET /metrics`, `/healthz` (the process runs) and `/readyz` (it should get work: 200, or 503
 * with the reason) for services without an HTTP API of their own (edge, sweeper). Resolves once
 * listening; close it with `server.close()`.
 */
export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  options: MetricsServerOptions = {},
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
      return;
    }
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && req.url === '/readyz') {
      const reason = options.notReady?.() ?? null;
      res.writeHead(reason === null ? 200 : 503, { 'content-type': 'application/json' });
      res.end(reason === null ? '{"status":"ready"}' : JSON.stringify({ error: { code: 'not_ready', message: reason } }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"code":"not_found","message":"only GET /metrics, /healthz and /readyz are served here"}}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/**
 * A service's metrics server as its settings ask: none with port 0, else `startMetricsServer` on
 * `setting`'s host and port, exiting with one line naming the variable when they can't be used.
 */
export async function serveMetricsOrExit(
  registry: Registry,
  setting: ListenSetting,
  options: MetricsServerOptions = {},
): Promise<Server | null> {
  if (setting.port === 0) return null;
  return listenOrExit(setting, () => startMetricsServer(registry, setting.host, setting.port, options));
}
