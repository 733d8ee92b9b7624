import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { booleanVar, enumVar, hostVar, integerVar, portVar } from './env-vars.js';
import { ConfigError } from './errors.js';
import { loadConfig } from './load-config.js';
import { effectiveSessionTtlMs, livenessSettings, redisSettings } from './shared-settings.js';

const schema = z.object({
  ...redisSettings,
  WORKERS: integerVar(4, 1, 64),
  VERBOSE: booleanVar(false),
  CHECK: booleanVar(true),
  MODE: enumVar(['fast', 'safe'] as const, 'safe'),
  PORT: portVar(7000),
  HOST: hostVar('0.0.0.0'),
});

/** The ConfigError that loading `env` throws; fails the test if it throws anything else or nothing. */
function configErrorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(schema, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

const DEFAULTS = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  REDIS_MODE: 'standalone',
  REDIS_SENTINEL_MASTER: 'mymaster',
  KEY_PREFIX: 'presence',
  SHARD_COUNT: 16,
  WORKERS: 4,
  VERBOSE: false,
  CHECK: true,
  MODE: 'safe',
  PORT: 7000,
  HOST: '0.0.0.0',
};

describe('loadConfig', () => {
  it('applies every default when nothing is set', () => {
    expect(loadConfig(schema, {})).toEqual(DEFAULTS);
  });

  it('treats empty and undefined variables as unset', () => {
    const env = Object.fromEntries(Object.keys(DEFAULTS).map((key) => [key, ''] as const));
    expect(loadConfig(schema, env)).toEqual(DEFAULTS);
    expect(loadConfig(schema, { SHARD_COUNT: undefined, VERBOSE: undefined, MODE: undefined })).toEqual(DEFAULTS);
  });

  it('reads and converts values that are set', () => {
    const config = loadConfig(schema, {
      REDIS_URL: 'redis://a:1,redis://b:2',
      REDIS_MODE: 'cluster',
      KEY_PREFIX: 'app.v2_test-1',
      SHARD_COUNT: '1024',
      WORKERS: '1',
      VERBOSE: 'yes',
      CHECK: 'off',
      MODE: 'fast',
      PORT: '0',
      HOST: 'localhost',
    });
    expect(config).toEqual({
      REDIS_URL: 'redis://a:1,redis://b:2',
      REDIS_MODE: 'cluster',
      REDIS_SENTINEL_MASTER: 'mymaster',
      KEY_PREFIX: 'app.v2_test-1',
      SHARD_COUNT: 1024,
      WORKERS: 1,
      VERBOSE: true,
      CHECK: false,
      MODE: 'fast',
      PORT: 0,
      HOST: 'localhost',
    });
  });

  it('ignores variables the schema does not name', () => {
    const config = loadConfig(schema, { PATH: '/usr/bin', HOME: '/root', SHARD_COUNT: '8' });
    expect(config).toEqual({ ...DEFAULTS, SHARD_COUNT: 8 });
    expect(config).not.toHaveProperty('PATH');
  });

  it('does not modify the environment it is given', () => {
    const env = { SHARD_COUNT: '', VERBOSE: 'on' };
    loadConfig(schema, env);
    expect(env).toEqual({ SHARD_COUNT: '', VERBOSE: 'on' });
  });

  it('rejects SHARD_COUNT=0 with a one-line message naming the variable and the value', () => {
    const error = configErrorOf({ SHARD_COUNT: '0' });
    expect(error.name).toBe('ConfigError');
    expect(error.code).toBe('config_invalid');
    expect(error.message).not.toContain('\n');
    expect(error.message.startsWith('config: SHARD_COUNT')).toBe(true);
    expect(error.message).toContain('(got "0")');
    expect(error.message).toBe('config: SHARD_COUNT must be at least 1 (got "0")');
  });

  it('rejects integers above the maximum', () => {
    const error = configErrorOf({ SHARD_COUNT: '1025' });
    expect(error.message).toBe('config: SHARD_COUNT must be at most 1024 (got "1025")');
  });

  it('rejects values that are not whole numbers', () => {
    for (const value of ['abc', '1.5', '12abc', 'NaN', 'Infinity']) {
      const error = configErrorOf({ WORKERS: value });
      expect(error.message.startsWith('config: WORKERS ')).toBe(true);
      expect(error.message).toContain(`(got ${JSON.stringify(value)})`);
      expect(error.message).not.toContain('\n');
    }
    expect(configErrorOf({ WORKERS: 'abc' }).message).toBe('config: WORKERS must be a whole number between 1 and 64 (got "abc")');
  });

  it('reports every problem on one line, separated by semicolons', () => {
    const error = configErrorOf({ SHARD_COUNT: '0', VERBOSE: 'maybe', MODE: 'slow' });
    expect(error.message).not.toContain('\n');
    expect(error.message.startsWith('config: ')).toBe(true);
    const problems = error.message.slice('config: '.length).split('; ');
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith('SHARD_COUNT ') && p.endsWith('(got "0")'))).toBe(true);
    expect(problems.some((p) => p.startsWith('VERBOSE ') && p.endsWith('(got "maybe")'))).toBe(true);
    expect(problems.some((p) => p.startsWith('MODE ') && p.endsWith('(got "slow")'))).toBe(true);
  });

  it('keeps the message on one line even when the bad value contains a newline', () => {
    const error = configErrorOf({ KEY_PREFIX: 'a\nb' });
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain('(got "a\\nb")');
  });

  it('rejects a KEY_PREFIX that could contain a hash tag', () => {
    for (const value of ['pre{fix}', '{x}', 'a}', 'has space', 'a'.repeat(65)]) {
      const error = configErrorOf({ KEY_PREFIX: value });
      expect(error.message.startsWith('config: KEY_PREFIX ')).toBe(true);
      expect(error.message).toContain(`(got ${JSON.stringify(value)})`);
    }
    expect(loadConfig(schema, { KEY_PREFIX: 'a'.repeat(64) }).KEY_PREFIX).toBe('a'.repeat(64));
  });

  it('rejects an unknown REDIS_MODE, listing the allowed values', () => {
    const error = configErrorOf({ REDIS_MODE: 'replica' });
    expect(error.message).toBe('config: REDIS_MODE must be one of standalone, cluster, sentinel (got "replica")');
  });

  it('rejects a port out of range', () => {
    expect(configErrorOf({ PORT: '65536' }).message).toBe('config: PORT must be at most 65535 (got "65536")');
    expect(configErrorOf({ PORT: '-1' }).message).toBe('config: PORT must be at least 0 (got "-1")');
    expect(loadConfig(schema, { PORT: '65535' }).PORT).toBe(65535);
  });

  it('names the environment when the input is not an object at all', () => {
    try {
      loadConfig(z.string(), {});
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message.startsWith('config: environment ')).toBe(true);
    }
  });
});

describe('integerVar', () => {
  const one = (value: string | undefined) => loadConfig(z.object({ N: integerVar(5, 1, 10) }), { N: value }).N;

  it('applies its default and bounds', () => {
    expect(one(undefined)).toBe(5);
    expect(one('')).toBe(5);
    expect(one('1')).toBe(1);
    expect(one('10')).toBe(10);
    expect(() => one('0')).toThrow(ConfigError);
    expect(() => one('11')).toThrow(ConfigError);
  });

  it('accepts every whole number in range and rejects every one outside it', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1_000, max: 1_000 }), (n) => {
        if (n >= 1 && n <= 10) expect(one(String(n))).toBe(n);
        else expect(() => one(String(n))).toThrow(ConfigError);
      }),
    );
  });

  it('parses directly with zod too', () => {
    expect(integerVar(3, 0).parse(undefined)).toBe(3);
    expect(integerVar(3, 0).parse('42')).toBe(42);
    expect(integerVar(3, 0).safeParse('-1').success).toBe(false);
  });
});

describe('booleanVar', () => {
  const flag = (value: string | undefined, defaultValue = false) =>
    loadConfig(z.object({ FLAG: booleanVar(defaultValue) }), { FLAG: value }).FLAG;

  it('applies its default when unset or empty', () => {
    expect(flag(undefined, false)).toBe(false);
    expect(flag(undefined, true)).toBe(true);
    expect(flag('', false)).toBe(false);
    expect(flag('', true)).toBe(true);
  });

  it('accepts true/false, 1/0, yes/no, on/off in any case', () => {
    for (const word of ['true', 'TRUE', 'True', '1', 'yes', 'YES', 'Yes', 'on', 'ON', 'oN']) {
      expect(flag(word, false)).toBe(true);
    }
    for (const word of ['false', 'FALSE', 'False', '0', 'no', 'NO', 'No', 'off', 'OFF', 'Off']) {
      expect(flag(word, true)).toBe(false);
    }
  });

  it('accepts any mix of upper and lower case', () => {
    const word = fc.constantFrom('true', 'false', 'yes', 'no', 'on', 'off');
    fc.assert(
      fc.property(word, fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), (w, upper) => {
        const mixed = [...w].map((c, i) => (upper[i] === true ? c.toUpperCase() : c)).join('');
        expect(flag(mixed)).toBe(['true', 'yes', 'on'].includes(w));
      }),
    );
  });

  it('rejects other words with a one-line message', () => {
    for (const word of ['maybe', 'y', 'n', '2', 'enabled', 'truee']) {
      try {
        flag(word);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        const message = (error as ConfigError).message;
        expect(message).toBe(`config: FLAG must be one of true/false, 1/0, yes/no, on/off (got ${JSON.stringify(word)})`);
      }
    }
  });
});

describe('enumVar', () => {
  const level = (value: string | undefined) =>
    loadConfig(z.object({ LEVEL: enumVar(['low', 'mid', 'high'] as const, 'mid') }), { LEVEL: value }).LEVEL;

  it('applies its default and accepts each listed value', () => {
    expect(level(undefined)).toBe('mid');
    expect(level('')).toBe('mid');
    expect(level('low')).toBe('low');
    expect(level('high')).toBe('high');
  });

  it('rejects anything else, listing the choices', () => {
    for (const value of ['LOW', 'medium', ' low']) {
      expect(() => level(value)).toThrow(new ConfigError(`config: LEVEL must be one of low, mid, high (got ${JSON.stringify(value)})`));
    }
  });
});

describe('redisSettings', () => {
  const redis = z.object(redisSettings);

  it('defaults to a local standalone Redis with 16 shards', () => {
    expect(loadConfig(redis, {})).toEqual({
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_MODE: 'standalone',
      REDIS_SENTINEL_MASTER: 'mymaster',
      KEY_PREFIX: 'presence',
      SHARD_COUNT: 16,
    });
  });

  it('reads sentinel mode: the sentinels in REDIS_URL, the master name and password beside it', () => {
    const env = {
      REDIS_URL: 'redis://s1:26379,redis://s2:26379',
      REDIS_MODE: 'sentinel',
      REDIS_SENTINEL_MASTER: 'presence-main',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    };
    expect(loadConfig(redis, env)).toEqual({ ...env, KEY_PREFIX: 'presence', SHARD_COUNT: 16 });
  });

  it('rejects a master name sentinel.conf could not hold', () => {
    expect(() => loadConfig(redis, { REDIS_SENTINEL_MASTER: 'my master' })).toThrow(
      new ConfigError('config: REDIS_SENTINEL_MASTER must be 1-128 characters of A-Z a-z 0-9 . _ - (got "my master")'),
    );
  });

  it('accepts shard counts from 1 to 1024', () => {
    expect(loadConfig(redis, { SHARD_COUNT: '1' }).SHARD_COUNT).toBe(1);
    expect(loadConfig(redis, { SHARD_COUNT: '1024' }).SHARD_COUNT).toBe(1024);
    expect(() => loadConfig(redis, { SHARD_COUNT: '0' })).toThrow(ConfigError);
    expect(() => loadConfig(redis, { SHARD_COUNT: '1025' })).toThrow(ConfigError);
  });

  it('accepts only letters, digits and ._- in KEY_PREFIX', () => {
    const prefixChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-';
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 64 }), (prefix) => {
        const valid = [...prefix].every((c) => prefixChars.includes(c));
        if (valid) expect(loadConfig(redis, { KEY_PREFIX: prefix }).KEY_PREFIX).toBe(prefix);
        else expect(() => loadConfig(redis, { KEY_PREFIX: prefix })).toThrow(ConfigError);
      }),
    );
  });
});

describe('effectiveSessionTtlMs', () => {
  it('is three refresh periods when SESSION_TTL_MS is 0', () => {
    expect(effectiveSessionTtlMs({ SESSION_TTL_MS: 0, SESSION_REFRESH_MS: 5_000 })).toBe(15_000);
    expect(effectiveSessionTtlMs({ SESSION_TTL_MS: 0, SESSION_REFRESH_MS: 50 })).toBe(150);
  });

  it('is SESSION_TTL_MS when it is set', () => {
    expect(effectiveSessionTtlMs({ SESSION_TTL_MS: 1_000, SESSION_REFRESH_MS: 5_000 })).toBe(1_000);
    expect(effectiveSessionTtlMs({ SESSION_TTL_MS: 60_000, SESSION_REFRESH_MS: 5_000 })).toBe(60_000);
  });

  it('is 15 seconds with the default liveness settings', () => {
    const settings = loadConfig(z.object(livenessSettings), {});
    expect(settings.SESSION_TTL_MS).toBe(0);
    expect(effectiveSessionTtlMs(settings)).toBe(15_000);
    expect(effectiveSessionTtlMs(loadConfig(z.object(livenessSettings), { SESSION_TTL_MS: '' }))).toBe(15_000);
    expect(effectiveSessionTtlMs(loadConfig(z.object(livenessSettings), { SESSION_REFRESH_MS: '100' }))).toBe(300);
    expect(effectiveSessionTtlMs(loadConfig(z.object(livenessSettings), { SESSION_TTL_MS: '9000' }))).toBe(9_000);
  });
});

describe('integerVar rejects numbers that are not plain decimal digits', () => {
  it.each(['  ', '0x10', '1e3', '0b11', '12abc', '1.5'])('rejects %j', (value) => {
    expect(() => loadConfig(z.object({ SHARD_COUNT: integerVar(16, 1, 1024) }), { SHARD_COUNT: value })).toThrow(
      /^config: SHARD_COUNT must be a whole number between 1 and 1024 \(got /,
    );
  });
});
