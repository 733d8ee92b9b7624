import type { Redis } from 'ioredis';
import { connectTestRedis } from './test-store.js';

/** What the pool needs of a consumer (StreamConsumer and ChannelStreamConsumer both are). */
interface Stoppable {
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/** Entries pending in `group`, summed over `streams` (XPENDING's count for each). */
export async function pendingCount(redis: Redis, streams: readonly string[], group: string): Promise<number> {
  let total = 0;
  for (const stream of streams) {
    const summary = (await redis.call('XPENDING', stream, group)) as [number, ...unknown[]];
    total += Number(summary[0]);
  }
  return total;
}

/**
 * Stream consumer workers for tests, each with a Redis connection of its own (so that one can die
 * alone: disconnect its connection), stopped together.
 */
export class ConsumerPool {
  private readonly consumers: Stoppable[] = [];
  private readonly connections: Redis[] = [];

  add<C extends Stoppable>(create: (redis: Redis) => C): { consumer: C; connection: Redis } {
    const connection = connectTestRedis();
    this.connections.push(connection);
    const consumer = create(connection);
    this.consumers.push(consumer);
    return { consumer, connection };
  }

  /** Stops every consumer; a doomed worker's handler never returns, so none is waited for long. */
  async stop(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.stop({ timeoutMs: 500 })));
    for (const connection of this.connections) connection.disconnect();
  }
}
