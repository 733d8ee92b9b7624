import { readFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';

const LUA_DIR = new URL('../lua/', import.meta.url);
const INCLUDE = /^--- @include "([a-z0-9-]+)"$/gm;

/**
 * Script versions are part of the command name, so that two versions of the code in a rolling
 * deploy never run each other's script (ioredis caches by name and SHA).
 */
const SCRIPT_VERSION = 1;

export const SCRIPT_FILES = [
  'add-session-7',
  'remove-sessions-6',
  'sweep-6',
  'refresh-1',
  'set-state-2',
  'read-client-5',
  'query-2',
  'node-beat-2',
] as const;

export type ScriptName = (typeof SCRIPT_FILES)[number];

/** Reads a script and inlines its `--- @include "name"` lines from lua/includes. */
export function loadScriptSource(name: string): string {
  const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return source.replace(INCLUDE, (_line, include: string) =>
    readFileSync(new URL(`includes/${include}.lua`, LUA_DIR), 'utf8'),
  );
}

export function commandName(script: ScriptName): string {
  return `presence_${script.replace(/-\d+$/, '').replace(/-/g, '_')}_v${SCRIPT_VERSION}`;
}

function numberOfKeys(script: ScriptName): number {
  return Number(script.slice(script.lastIndexOf('-') + 1));
}

/** Registers every script on a client (idempotent per client). */
export function defineScripts(redis: Redis | Cluster): void {
  for (const script of SCRIPT_FILES) {
    const name = commandName(script);
    if (typeof (redis as unknown as Record<string, unknown>)[name] === 'function') continue;
    redis.defineCommand(name, { numberOfKeys: numberOfKeys(script), lua: loadScriptSource(script) });
  }
}

type ScriptArg = string | number | Buffer;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;
/** Something scripts can be called on: a client or a pipeline made from one. */
export type ScriptTarget = Redis | Cluster | ReturnType<Redis['pipeline']>;

/** Calls a defined script; the one place the untyped dynamic command is touched. */
export function callScript(
  target: ScriptTarget,
  script: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
): Promise<unknown> {
  const fn = (target as unknown as Record<string, ScriptFn>)[commandName(script)];
  if (fn === undefined) throw new Error(`script ${script} is not defined on this client: call defineScripts first`);
  return fn.call(target, ...keys, ...args);
}
