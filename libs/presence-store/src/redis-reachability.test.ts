import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisReachability } from './redis-reachability.js';

class FakeClient extends EventEmitter {
  status = 'connecting';

  fail(message: string): void {
    this.status = 'reconnecting';
    this.emit('error', new Error(message));
  }

  connect(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

function recordingLogger() {
  const lines: { level: string; obj: object; msg: string | undefined }[] = [];
  return {
    lines,
    warn: (obj: object, msg?: string) => lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg?: string) => lines.push({ level: 'info', obj, msg }),
  };
}

const target = { url: 'redis://:secret@127.0.0.1:6399', mode: 'standalone' as const };

describe('RedisReachability', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes one line per service however many clients fail, naming the URL without its password and the variable', () => {
    const clients = [new FakeClient(), new FakeClient(), new FakeClient()];
    const logger = recordingLogger();
    const reachability = new RedisReachability(clients, logger, { target, repeatMs: 30_000 });
    for (let i = 0; i < 20; i += 1) for (const client of clients) client.fail('connect ECONNREFUSED 127.0.0.1:6399');
    expect(logger.lines).toHaveLength(1);
    const [line] = logger.lines;
    expect(line?.level).toBe('warn');
    expect(line?.msg).toBe(
      'Redis at redis://:***@127.0.0.1:6399 has not answered since this process started ' +
        '(connect ECONNREFUSED 127.0.0.1:6399): start it, or set REDIS_URL',
    );
    expect(JSON.stringify(line)).not.toContain('secret');
    expect(reachability.problem()).toBe(line?.msg);
    expect(reachability.everReached).toBe(false);
    reachability.stop();
  });

  it('repeats the line at the slow interval while Redis stays away, and says once when it is back', () => {
    const client = new FakeClient();
    const logger = recordingLogger();
    const reachability = new RedisReachability([client], logger, { target, repeatMs: 30_000 });
    client.connect();
    expect(reachability.problem()).toBeNull();
    client.fail('connect ECONNREFUSED 127.0.0.1:6399');
    vi.advanceTimersByTime(29_000);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]?.msg).toMatch(/^Redis at \S+ is unreachable \(connect ECONNREFUSED/);
    vi.advanceTimersByTime(31_000);
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'warn', 'warn']);
    expect(logger.lines[2]?.obj).toMatchObject({ downForS: 60 });
    client.connect();
    expect(logger.lines.at(-1)).toMatchObject({ level: 'info', msg: 'Redis at redis://:***@127.0.0.1:6399 is reachable again' });
    vi.advanceTimersByTime(120_000);
    expect(logger.lines).toHaveLength(4);
    reachability.stop();
  });

  it('is not reachable until every client is', () => {
    const clients = [new FakeClient(), new FakeClient()];
    const reachability = new RedisReachability(clients, recordingLogger(), { target });
    clients[0]?.connect();
    expect(reachability.reachable).toBe(false);
    expect(reachability.problem()).toMatch(/no answer yet/);
    clients[1]?.connect();
    expect(reachability.reachable).toBe(true);
    expect(reachability.everReached).toBe(true);
    reachability.stop();
  });

  it('names the sentinels and the master name in sentinel mode', () => {
    const client = new FakeClient();
    const logger = recordingLogger();
    const sentinel = { url: 'redis://s1:26379,redis://s2:26379', mode: 'sentinel' as const, sentinelMaster: 'main' };
    const reachability = new RedisReachability([client], logger, { target: sentinel });
    client.fail('All sentinels are unreachable');
    expect(logger.lines[0]?.msg).toBe(
      'Redis master "main" (sentinels redis://s1:26379, redis://s2:26379) has not answered since this process started ' +
        '(All sentinels are unreachable): start it, or set REDIS_URL and REDIS_SENTINEL_MASTER',
    );
    reachability.stop();
  });
});
