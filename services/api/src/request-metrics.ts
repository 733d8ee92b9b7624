import type { RequestHandler } from 'express';
import { Histogram, type Registry } from 'prom-client';

/** Times every request into `presence_api_request_seconds`, by route (its path as declared) and status. */
export function requestMetrics(registry: Registry): RequestHandler {
  const requestSeconds = new Histogram({
    name: 'presence_api_request_seconds',
    help: 'HTTP request duration',
    labelNames: ['route', 'status'],
    registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  });
  return (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      requestSeconds.observe({ route, status: String(res.statusCode) }, (performance.now() - started) / 1000);
    });
    next();
  };
}
