import { Gauge, type Registry } from 'prom-client';

/** How long a scrape waits for Redis's PONG before it reports Redis unreachable. */
const REDIS_UP_TIMEOUT_MS = 1_000;

/**
 * `presence_redis_up`: 1 when a PING sent at scrape time is answered within `timeoutMs`, else 0.
 * Asked at scrape time rather than read from the client's connection state, because a link that
 * delays every byte (a partition) leaves the connection "ready" while nothing is acknowledged.
 * One PING per scrape; a client that queues commands while disconnected may send the timed-out
 * ones later, which costs Redis nothing worth counting.
 */
export function registerRedisUpGauge(registry: Registry, ping: () => Promise<unknown>, timeoutMs = REDIS_UP_TIMEOUT_MS): Gauge {
  return new Gauge({
    name: 'presence_redis_up',
    help: 'Whether this process reaches Redis: 1 when a PING sent at scrape time is answered in time, else 0',
    registers: [registry],
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const answered = ping().then(
        () => true,
        () => false,
      );
      try {
        this.set((await Promise.race([answered, timeout])) ? 1 : 0);
      } finally {
        clearTimeout(timer);
      }
    },
  });
}
