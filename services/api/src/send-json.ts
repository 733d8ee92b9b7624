import type { Request, Response } from 'express';

/**
 * `res.json(value)` for a body already serialised (`JSON.stringify(value)`), with the same status,
 * headers and bytes, minus express's per-call work (settings lookups, content-type parsing, charset
 * rewriting, freshness check), which is a good share of a single presence lookup's CPU. A
 * conditional request still goes through express, whose freshness check can answer 304.
 */
export function sendJson(req: Request, res: Response, json: string): void {
  if (req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined) {
    res.set('Content-Type', 'application/json').send(json);
    return;
  }
  res.writeHead(res.statusCode, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}
