import type { z } from 'zod';
import { ConfigError } from './errors.js';

type Env = Record<string, string | undefined>;

/** Variables whose values are never echoed in an error: they may be secrets. */
const SECRET_NAME = /SECRET|TOKEN|PASSWORD/;

/**
 * Validates `env` against a service's schema. Empty variables count as unset so that `FOO=` in a
 * compose file means "use the default". Throws ConfigError whose message is one line, e.g.
 * `config: SHARD_COUNT must be at least 1 (got "0")`.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.') || 'environment';
    const given = typeof issue.path[0] === 'string' ? cleaned[issue.path[0]] : undefined;
    const secret = typeof issue.path[0] === 'string' && SECRET_NAME.test(issue.path[0]);
    const got = given === undefined ? '' : secret ? ` (got ${given.length} characters, not shown)` : ` (got ${JSON.stringify(given)})`;
    return `${name} ${issue.message}${got}`;
  });
  throw new ConfigError(`config: ${problems.join('; ')}`);
}

/**
 * For a service's main: the validated config, or the one-line error on stderr and exit code 1
 * (no stack trace: the message says what to change).
 */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  try {
    return loadConfig(schema, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
