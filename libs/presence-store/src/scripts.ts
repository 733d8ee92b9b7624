import { createHash } from 'node:crypto';
import type { Cluster, Redis, RedisKey, Result } from 'ioredis';
import { loadScript } from './script-loader.js';

/**
 * The scripts, by file: lua/<name>-<N>.lua, where N is its number of KEYS (`n`: as many as the
 * caller gives, their count first, as EVALSHA takes them). Each is defined on a
 * client as the command `presence:<file>:<first 8 hex of the SHA-1 of its resolved source>`.
 *
 * Why the hash: ioredis keeps one script per command name on a client, and `defineScripts` leaves
 * a name that is already defined alone. Two copies of this library in one process (two versions
 * of a dependent package) sharing a client would otherwise run each other's script under the
 * same name. Across processes, as in a rolling deploy, nothing can mix: Redis runs a script by the
 * SHA-1 of its own text (EVALSHA), whatever the command is called.
 */
export type ScriptFile =
  | 'add-session-7'
  | 'remove-sessions-6'
  | 'sweep-6'
  | 'refresh-1'
  | 'set-state-2'
  | 'read-client-5'
  | 'query-2'
  | 'node-beat-2'
  | 'track-channel-1'
  | 'channel-join-6'
  | 'channel-leave-6'
  | 'channel-set-4'
  | 'channel-members-3'
  | 'channel-occupancy-n';

/** The command name of a script's current source. */
export type ScriptCommand<File extends ScriptFile> = `presence:${File}:${string}`;

type Arg = string | number;

/** The KEYS of channel-join-6 and channel-leave-6. */
export type ChannelScriptKeys = [clients: RedisKey, sessions: RedisKey, index: RedisKey, seq: RedisKey, ended: RedisKey, events: RedisKey];

/** The KEYS of the scripts that end sessions (remove-sessions-6, sweep-6). */
export type EndingKeys = [deadlines: RedisKey, meta: RedisKey, online: RedisKey, since: RedisKey, lastseen: RedisKey, events: RedisKey];

// Typed custom commands, on clients and pipelines alike (ioredis's declaration merging). Replies
// are `unknown` until script-replies.ts has checked them. Keys first, then ARGV, as in each
// script's header.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    [command: `presence:add-session-7:${string}`]: (
      deadlines: RedisKey,
      client: RedisKey,
      meta: RedisKey,
      online: RedisKey,
      since: RedisKey,
      lastseen: RedisKey,
      events: RedisKey,
      sessionId: string,
      clientId: string,
      node: string,
      ttlMs: number,
      stateJson: string,
      eventsMaxLen: number,
      channel: string,
      shard: number,
      maxSessions: number,
      outbox: string,
    ) => Result<unknown, Context>;
    [command: `presence:remove-sessions-6:${string}`]: (
      ...args: [
        ...keys: EndingKeys,
        clientPrefix: string,
        eventsMaxLen: number,
        channel: string,
        shard: number,
        outbox: string,
        // Seven per session: sessionId, clientId, reason, endedAt or '', graceMs, node, registeredAt or ''.
        ...sessions: Arg[],
      ]
    ) => Result<unknown, Context>;
    [command: `presence:sweep-6:${string}`]: (
      ...args: [
        ...keys: EndingKeys,
        clientPrefix: string,
        limit: number,
        eventsMaxLen: number,
        channel: string,
        shard: number,
        lastSeenTtlMs: number,
        notAfter: number | '',
        outbox: string,
      ]
    ) => Result<unknown, Context>;
    [command: `presence:refresh-1:${string}`]: (deadlines: RedisKey, ttlMs: number, membersJson: Buffer) => Result<unknown, Context>;
    [command: `presence:set-state-2:${string}`]: (
      client: RedisKey,
      meta: RedisKey,
      sessionId: string,
      stateJson: string,
    ) => Result<unknown, Context>;
    [command: `presence:read-client-5:${string}`]: (
      client: RedisKey,
      meta: RedisKey,
      deadlines: RedisKey,
      since: RedisKey,
      lastseen: RedisKey,
      clientId: string,
    ) => Result<unknown, Context>;
    [command: `presence:query-2:${string}`]: (online: RedisKey, lastseen: RedisKey, ...clientIds: string[]) => Result<unknown, Context>;
    [command: `presence:track-channel-1:${string}`]: (
      client: RedisKey,
      sessionId: string,
      channel: string,
      op: 'join' | 'leave',
      maxChannels: number,
    ) => Result<unknown, Context>;
    [command: `presence:channel-join-6:${string}`]: (
      ...args: [
        ...keys: ChannelScriptKeys,
        channel: string,
        sessionId: string,
        clientId: string,
        node: string,
        stateJson: string,
        eventsMaxLen: number,
        pubsub: string,
        updates: 0 | 1,
        rejoin: 0 | 1,
      ]
    ) => Result<unknown, Context>;
    [command: `presence:channel-leave-6:${string}`]: (
      ...args: [
        ...keys: ChannelScriptKeys,
        channel: string,
        eventsMaxLen: number,
        pubsub: string,
        ended: 0 | 1,
        endedKeepMs: number,
        // Five per session: sessionId, clientId, reason, at or '', node or ''.
        ...sessions: (string | number)[],
      ]
    ) => Result<unknown, Context>;
    [command: `presence:channel-set-4:${string}`]: (
      clients: RedisKey,
      sessions: RedisKey,
      seq: RedisKey,
      events: RedisKey,
      channel: string,
      sessionId: string,
      clientId: string,
      stateJson: string,
      eventsMaxLen: number,
      pubsub: string,
      updates: 0 | 1,
    ) => Result<unknown, Context>;
    [command: `presence:channel-members-3:${string}`]: (
      clients: RedisKey,
      sessions: RedisKey,
      index: RedisKey,
      after: string,
      limit: number,
    ) => Result<unknown, Context>;
    [command: `presence:channel-occupancy-n:${string}`]: (numberOfKeys: number, ...keys: RedisKey[]) => Result<unknown, Context>;
    [command: `presence:node-beat-2:${string}`]: (
      nodeDeadlines: RedisKey,
      nodeInfo: RedisKey,
      node: string,
      ttlMs: number,
      sessions: number,
      keepDeadMs: number,
      startedAt: number,
      version: string,
    ) => Result<unknown, Context>;
  }
}

/** Digits of the source's SHA-1 in a command name: enough to tell two versions of a script apart. */
const HASH_DIGITS = 8;

const sources = new Map<ScriptFile, string>();

/** A script's resolved source, read once per process. */
function source(file: ScriptFile): string {
  let lua = sources.get(file);
  if (lua === undefined) {
    lua = loadScript(file);
    sources.set(file, lua);
  }
  return lua;
}

function defineScript<File extends ScriptFile>(redis: Redis | Cluster, file: File): ScriptCommand<File> {
  return defineVersionedCommand(redis, 'presence', file, source(file)) as ScriptCommand<File>;
}

/**
 * Defines the script `lua` of file `<name>-<N>.lua` (N KEYS) on a client as the command
 * `<namespace>:<name>-<N>:<first 8 hex of its SHA-1>` (see above for why the hash), once per client
 * and source, and returns the command name. Other libraries with scripts (libs/webhooks) define
 * theirs with it too.
 */
export function defineVersionedCommand(redis: Redis | Cluster, namespace: string, file: string, lua: string): string {
  const command = `${namespace}:${file}:${createHash('sha1').update(lua).digest('hex').slice(0, HASH_DIGITS)}`;
  const keys = file.slice(file.lastIndexOf('-') + 1);
  if (!(command in redis)) redis.defineCommand(command, { ...(keys === 'n' ? {} : { numberOfKeys: Number(keys) }), lua });
  return command;
}

/**
 * Defines every script on a client (once per client and source) and returns their command names.
 * They exist on the client and on every pipeline made from it afterwards; the index signatures
 * above can't say so, hence the `!` where they are called.
 */
export function defineScripts(redis: Redis | Cluster) {
  return {
    addSession: defineScript(redis, 'add-session-7'),
    removeSessions: defineScript(redis, 'remove-sessions-6'),
    sweep: defineScript(redis, 'sweep-6'),
    refresh: defineScript(redis, 'refresh-1'),
    setState: defineScript(redis, 'set-state-2'),
    readClient: defineScript(redis, 'read-client-5'),
    query: defineScript(redis, 'query-2'),
    nodeBeat: defineScript(redis, 'node-beat-2'),
    trackChannel: defineScript(redis, 'track-channel-1'),
    channelJoin: defineScript(redis, 'channel-join-6'),
    channelLeave: defineScript(redis, 'channel-leave-6'),
    channelSet: defineScript(redis, 'channel-set-4'),
    channelMembers: defineScript(redis, 'channel-members-3'),
    channelOccupancy: defineScript(redis, 'channel-occupancy-n'),
  } as const;
}

export type ScriptCommands = ReturnType<typeof defineScripts>;
