import type { TestProject } from 'vitest/node';
import { RedisCluster } from './redis-cluster.js';
import { RedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisMode: 'standalone' | 'cluster';
  }
}

/**
 * The shared test Redis, in order of preference: a local three-master cluster with
 * TEST_REDIS_CLUSTER=1; REDIS_URL; a container when a container runtime
 * exists (testcontainers); otherwise a redis-server from PATH on a free port. Each test file uses its
 * own key prefix, so files share it safely.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.TEST_REDIS_CLUSTER === '1') {
    // `npm run test:cluster`: the same suite against a three-master Redis Cluster.
    const cluster = await RedisCluster.start(3);
    project.provide('redisUrl', cluster.url);
    project.provide('redisMode', 'cluster');
    return () => cluster.stop();
  }
  project.provide('redisMode', 'standalone');
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    return async () => {};
  }
  const container = await startContainer();
  if (container !== null) {
    project.provide('redisUrl', container.url);
    return container.stop;
  }
  const server = await RedisServer.start();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}

async function startContainer(): Promise<{ url: string; stop: () => Promise<void> } | null> {
  try {
    const { getContainerRuntimeClient, GenericContainer, Wait } = await import('testcontainers');
    await getContainerRuntimeClient();
    const container = await new GenericContainer('redis:7-alpine')
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .start();
    return {
      url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
      stop: async () => {
        await container.stop();
      },
    };
  } catch {
    // No container runtime (the machines here have none): fall back to redis-server.
    return null;
  }
}
