// A webhook receiver that checks each request's Presence-Signature and prints its events.
//   WEBHOOK_SECRET=<the webhook's secret> node receiver.mjs      (PORT: default 4000)
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

/** Requests signed longer ago than this are refused: a captured request can't be replayed later. */
const TOLERANCE_SECONDS = 300;

/** True when `header` (Presence-Signature: t=<unix>,v1=<hex>) signs the raw `body` with `secret`, recently. */
function verifySignature(secret, header, body, nowSeconds = Date.now() / 1000) {
  const fields = header.split(',').map((part) => part.trim().split('='));
  const t = Number(fields.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  // More than one v1 may come (a secret being rotated): any may match.
  return fields
    .filter(([key, value]) => key === 'v1' && /^[0-9a-f]{64}$/.test(value ?? ''))
    .some(([, value]) => timingSafeEqual(Buffer.from(value, 'hex'), expected));
}

const secret = process.env.WEBHOOK_SECRET ?? '';
const port = Number(process.env.PORT ?? 4000);
createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks); // the bytes as sent: parse only after checking them
    if (!verifySignature(secret, String(req.headers['presence-signature'] ?? ''), body)) {
      console.log('refused: bad or old signature');
      res.writeHead(400).end();
      return;
    }
    // Presence-Event-Ids (and each event's id) let you drop a batch you already handled: delivery is at least once.
    for (const event of JSON.parse(body.toString('utf8')).events) {
      console.log(`${event.type} ${event.clientId} ${event.reason ?? ''} id=${event.id} at=${event.at}`);
    }
    res.writeHead(204).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/`));
