import { spawnSync } from 'node:child_process';
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
 * TEST_REDIS_CLUSTER=1; REDIS_URL; a redis-server from PATH on a free port; otherwise a container
 * (testcontainers) when a container runtime exists. A local redis-server comes before a container so
 * that the suite runs the same whether or not a Docker engine happens to be up. Each test file uses
 * its own key prefix, so files share it safely.
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
  if (hasRedisServer()) {
    const server = await RedisServer.start();
    project.provide('redisUrl', server.url);
    return () => server.stop();
  }
  const container = await startContainer();
  if (container === null) throw new Error('tests need redis-server on PATH, a container runtime, or REDIS_URL');
  project.provide('redisUrl', container.url);
  return container.stop;
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
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
    return null;
  }
}
