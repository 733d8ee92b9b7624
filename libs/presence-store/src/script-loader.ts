import { readFileSync } from 'node:fs';

const LUA_DIR = new URL('../lua/', import.meta.url);
/** A line `--- @include "name"`: inline lua/includes/<name>.lua here. */
const INCLUDE_LINE = /^--- @include "([a-z0-9-]+)"$/gm;

/** Reads one include's source; null when there is no such include. */
export type IncludeReader = (name: string) => string | null;

/**
 * Inlines a script's `--- @include "name"` lines, recursively: an include's own includes are
 * inlined where it lists them, before its code, so every Lua function is defined before the code
 * that calls it. An include already inlined (by the script or by another include) is inlined once
 * only, so each file lists just what it uses itself. A cycle or an unknown include is an error
 * naming the chain that led to it.
 */
export function resolveIncludes(script: string, source: string, readInclude: IncludeReader): string {
  const inlined = new Set<string>();
  const expand = (text: string, chain: readonly string[]): string =>
    text.replace(new RegExp(INCLUDE_LINE), (_line, name: string) => {
      if (chain.includes(name)) throw new Error(`lua: include cycle ${[...chain, name].join(' -> ')}`);
      if (inlined.has(name)) return `-- @include "${name}": inlined above`;
      const include = readInclude(name);
      if (include === null) throw new Error(`lua: ${chain.join(' -> ')} includes "${name}", but lua/includes/${name}.lua does not exist`);
      const expanded = expand(include, [...chain, name]);
      inlined.add(name);
      return expanded;
    });
  return expand(source, [script]);
}

/**
 * The source of <luaDir>/<script>.lua with its includes resolved from <luaDir>/includes. `luaDir`
 * is this library's lua/ unless another library with scripts of its own names its directory.
 */
export function loadScript(script: string, luaDir: URL = LUA_DIR): string {
  return resolveIncludes(script, readFileSync(new URL(`${script}.lua`, luaDir), 'utf8'), (name) => readInclude(luaDir, name));
}

function readInclude(luaDir: URL, name: string): string | null {
  try {
    return readFileSync(new URL(`includes/${name}.lua`, luaDir), 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return null;
    throw error;
  }
}
