import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScript, resolveIncludes } from './script-loader.js';

/** Include sources by name, as lua/includes would hold them. */
const reader =
  (includes: Record<string, string>) =>
  (name: string): string | null =>
    includes[name] ?? null;

describe('resolveIncludes', () => {
  it('inlines includes where they are listed, and their own includes before their code', () => {
    const includes = {
      'now-ms': 'function now_ms() end',
      'emit-event': '--- @include "now-ms"\nfunction emit_event() end',
    };
    const resolved = resolveIncludes('script', 'local a = 1\n--- @include "emit-event"\nreturn emit_event()', reader(includes));
    expect(resolved).toBe('local a = 1\nfunction now_ms() end\nfunction emit_event() end\nreturn emit_event()');
  });

  it('inlines an include used by several files once, where it is first needed', () => {
    const includes = {
      'emit-event': 'E',
      'go-offline': '--- @include "emit-event"\nG',
      'end-session': '--- @include "go-offline"\n--- @include "emit-event"\nS',
    };
    const resolved = resolveIncludes('script', '--- @include "end-session"\n--- @include "go-offline"\nmain', reader(includes));
    const code = resolved.split('\n').filter((line) => !line.startsWith('--'));
    expect(code).toEqual(['E', 'G', 'S', 'main']);
  });

  it('refuses a cycle, naming it', () => {
    const includes = { a: '--- @include "b"', b: '--- @include "c"', c: '--- @include "a"' };
    expect(() => resolveIncludes('script', '--- @include "a"', reader(includes))).toThrow('include cycle script -> a -> b -> c -> a');
    expect(() => resolveIncludes('script', '--- @include "self"', reader({ self: '--- @include "self"' }))).toThrow(
      'include cycle script -> self -> self',
    );
  });

  it('refuses an include that does not exist, naming who asked for it', () => {
    const includes = { a: '--- @include "missing"' };
    expect(() => resolveIncludes('script', '--- @include "a"', reader(includes))).toThrow(
      'script -> a includes "missing", but lua/includes/missing.lua does not exist',
    );
  });

  it('leaves lines that only look like includes alone', () => {
    const source = '-- @include "x"\n  --- @include "x"\n--- @include "x" -- trailing';
    expect(resolveIncludes('script', source, reader({}))).toBe(source);
  });
});

describe('loadScript', () => {
  it('resolves the shipped scripts: each function they call defined once, before its first use', () => {
    const scripts = readdirSync(new URL('../lua/', import.meta.url))
      .filter((file) => file.endsWith('.lua'))
      .map((file) => file.slice(0, -'.lua'.length));
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      const lua = loadScript(script);
      expect(lua).not.toMatch(/^--- @include/m);
      for (const fn of ['now_ms', 'emit_event', 'go_offline', 'end_session', 'new_deferred', 'flush_deferred', 'call_in_slices']) {
        if (!lua.includes(`${fn}(`)) continue;
        const definition = `local function ${fn}(`;
        expect(lua.split(definition).length - 1, `${script}: ${fn} defined once`).toBe(1);
        expect(lua.indexOf(`${fn}(`), `${script}: ${fn} defined before its first use`).toBe(
          lua.indexOf(definition) + 'local function '.length,
        );
      }
    }
  });
});
