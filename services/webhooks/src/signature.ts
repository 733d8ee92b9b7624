import { createHmac } from 'node:crypto';

/**
 * `Presence-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
 * endpoint's secret as UTF-8: Stripe's scheme, so receivers check it as they check Stripe's
 * (docs/webhooks.md has the Node and Python snippets, which the tests run against real deliveries).
 * Signing the time with the body lets a receiver refuse old requests replayed at it.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
