import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { RedisServer, pingRedis } from './redis-server.js';
import { waitFor } from './wait-for.js';

export const MASTER_NAME = 'mymaster';

export interface SentinelSetOptions {
  /** Sentinels agree a master is down after this much silence (sentinel.conf's default is 30 s). */
  downAfterMs?: number;
}

/**
 * A master, one replica and three sentinels (quorum 2), all `redis-server` processes on free
 * loopback ports, as a Redis Sentinel deployment runs. The master writes an append-only file with
 * fsync on every write, so what it had acknowledged when it is killed can be read afterwards (start
 * a RedisServer on its `dir`), and compared with what the promoted replica has.
 */
export class SentinelSet {
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelPorts: number[];
  private readonly sentinels: ChildProcess[];

  private constructor(master: RedisServer, replica: RedisServer, sentinelPorts: number[], sentinels: ChildProcess[]) {
    this.master = master;
    this.replica = replica;
    this.sentinelPorts = sentinelPorts;
    this.sentinels = sentinels;
  }

  static async start(options: SentinelSetOptions = {}): Promise<SentinelSet> {
    const master = await RedisServer.start({ appendOnly: true });
    // Replicating through anything but the master's own address would not last: the sentinels
    // "fix" a replica that names another master (+fix-slave-config).
    const replica = await RedisServer.start({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
    await waitFor(async () => (await info(replica.port, 'replication')).includes('master_link_status:up'), {
      timeoutMs: 15_000,
      what: 'the replica to sync with the master',
    });
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    const sentinels = ports.map((port) => startSentinel(port, master.port, options.downAfterMs ?? 1_000));
    const set = new SentinelSet(master, replica, ports, sentinels);
    // A sentinel learns of the replica from the master's INFO and of the other sentinels from their
    // hello messages (every 2 s): without them it could neither vote nor promote anyone.
    for (const port of ports) {
      await waitFor(
        async () => {
          const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
          client.on('error', () => {});
          try {
            await client.connect();
            const replicas = (await client.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
            const others = (await client.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
            return replicas.length === 1 && others.length === 2;
          } finally {
            client.disconnect();
          }
        },
        { timeoutMs: 30_000, what: `sentinel ${port} to know the replica and the other sentinels` },
      );
    }
    return set;
  }

  /** The sentinels, as REDIS_URL lists them in sentinel mode. */
  get url(): string {
    return this.sentinelPorts.map((port) => `redis://127.0.0.1:${port}`).join(',');
  }

  /** The port of the master the sentinels name now. */
  async masterPort(): Promise<number> {
    const client = new Redis({ port: this.sentinelPorts[0], host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    try {
      await client.connect();
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as [string, string];
      return Number(port);
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.sentinels.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    this.replica.thaw();
    await Promise.all([this.master.kill(), this.replica.kill()]);
  }
}

function startSentinel(port: number, masterPort: number, downAfterMs: number): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), 'presence-sentinel-'));
  const file = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file as it learns: it must be its own, and writable.
  writeFileSync(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${downAfterMs}`,
      `sentinel failover-timeout ${MASTER_NAME} 10000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      '',
    ].join('\n'),
  );
  return spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
}

/** `INFO <section>` of the Redis on `port`, or '' when it does not answer. */
export async function info(port: number, section: string): Promise<string> {
  if (!(await pingRedis(port))) return '';
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.info(section);
  } catch {
    return '';
  } finally {
    client.disconnect();
  }
}
