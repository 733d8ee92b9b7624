import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { pingRedis } from './redis-server.js';
import { waitFor } from './wait-for.js';

/** A real Redis Cluster of `masters` redis-server processes on loopback, no replicas. */
export class RedisCluster {
  readonly ports: number[];
  private readonly processes: ChildProcess[];

  private constructor(ports: number[], processes: ChildProcess[]) {
    this.ports = ports;
    this.processes = processes;
  }

  /** Seed nodes in the form REDIS_URL takes with REDIS_MODE=cluster. */
  get url(): string {
    return this.ports.map((port) => `redis://127.0.0.1:${port}`).join(',');
  }

  static async start(masters = 3): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'presence-cluster-'));
    const ports: number[] = [];
    const busPorts: number[] = [];
    // The bus port is chosen too: the default (port + 10000) may be taken by anything.
    for (let i = 0; i < masters; i += 1) {
      ports.push(await freePort());
      busPorts.push(await freePort());
    }
    const processes = ports.map((port, i) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPorts[i]),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '5000',
        ],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new RedisCluster(ports, processes);
    try {
      await cluster.join();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  private async join(): Promise<void> {
    const ports = this.ports;
    for (const port of ports) {
      await waitFor(() => pingRedis(port), { timeoutMs: 10_000, what: `cluster node ${port}` });
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) {
      await waitFor(async () => (await clusterInfo(port)).includes('cluster_state:ok'), {
        timeoutMs: 20_000,
        what: `cluster_state:ok on ${port}`,
      });
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
  }
}

async function clusterInfo(port: number): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    return String(await client.call('CLUSTER', 'INFO'));
  } finally {
    client.disconnect();
  }
}
