import { KeySpace } from '@presence/wire-format';
import type { Redis } from 'ioredis';

/** Commands the benchmark itself sends while measuring: left out of every count. */
const OWN_COMMANDS = new Set([
  'info',
  'ping',
  'config|set',
  'config|get',
  'config|resetstat',
  'slowlog|get',
  'slowlog|reset',
  'latency|latest',
  'latency|reset',
  'client|setname',
  'client|list',
  'dbsize',
  'zcard',
  'time',
  'memory|usage',
]);

export interface CommandStats {
  /** Calls per command name (as INFO commandstats names them). */
  calls: Record<string, number>;
  /** Microseconds of Redis time per command. */
  usec: Record<string, number>;
}

export async function commandStats(redis: Redis): Promise<CommandStats> {
  const text = await redis.info('commandstats');
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls[match[1] as string] = Number(match[2]);
    usec[match[1] as string] = Number(match[3]);
  }
  return { calls, usec };
}

export interface CommandDelta {
  /** Every command Redis executed, including those run inside scripts. */
  all: number;
  /** Script invocations (EVALSHA/EVAL/FCALL): what clients sent for the scripted paths. */
  scripts: number;
  byCommand: Record<string, number>;
  /** Redis time spent in commands (µs), scripts counted once (their inner commands are inside). */
  usec: number;
}

export function commandDelta(before: CommandStats, after: CommandStats, ownCalls = OWN_COMMANDS): CommandDelta {
  const byCommand: Record<string, number> = {};
  let all = 0;
  let scripts = 0;
  let usec = 0;
  for (const [name, calls] of Object.entries(after.calls)) {
    if (ownCalls.has(name)) continue;
    const delta = calls - (before.calls[name] ?? 0);
    if (delta <= 0) continue;
    byCommand[name] = delta;
    all += delta;
    if (name === 'evalsha' || name === 'eval' || name === 'fcall' || name === 'evalsha_ro' || name === 'eval_ro') {
      scripts += delta;
      usec += (after.usec[name] ?? 0) - (before.usec[name] ?? 0);
    }
  }
  // Redis time outside scripts: commands sent directly (a naive ZADD, XRANGE, BullMQ's own calls).
  if (scripts === 0) {
    for (const [name, value] of Object.entries(after.usec)) {
      if (!ownCalls.has(name)) usec += value - (before.usec[name] ?? 0);
    }
  }
  return { all, scripts, byCommand, usec };
}

export async function usedMemory(redis: Redis): Promise<number> {
  const text = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? 'NaN');
}

/** Sessions registered under a prefix: the sum of the shards' deadlines sets. */
export async function registeredSessions(redis: Redis, prefix: string, shards: number): Promise<number> {
  const pipeline = redis.pipeline();
  for (const keys of new KeySpace(prefix, shards).allShards()) pipeline.zcard(keys.deadlines);
  const replies = (await pipeline.exec()) ?? [];
  return replies.reduce((sum, [error, value]) => sum + (error === null ? Number(value) : 0), 0);
}

/** Redis server time in ms. */
export async function redisNowMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await redis.time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

export interface SlowCall {
  durationUs: number;
  command: string;
  timestamp: number;
}

/** Slow log entries (command name and, for scripts, its number of keys), longest first. */
export async function slowCalls(redis: Redis, count = 1024): Promise<SlowCall[]> {
  const entries = (await redis.call('SLOWLOG', 'GET', String(count))) as [number, number, number, string[]][];
  return entries
    .map(([, timestamp, durationUs, args]) => {
      const name = String(args[0] ?? '').toLowerCase();
      const label = name.startsWith('eval') ? `${name} (${args[2] ?? '?'} keys)` : name;
      return { durationUs: Number(durationUs), command: label, timestamp: Number(timestamp) };
    })
    .sort((a, b) => b.durationUs - a.durationUs);
}
