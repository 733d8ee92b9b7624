import { pino } from 'pino';

/** The logging surface libraries depend on: a subset of pino, so tests can pass a silent one. */
export interface Logger {
  info(obj: object, msg?: string): void;
  info(msg: string): void;
  warn(obj: object, msg?: string): void;
  warn(msg: string): void;
  error(obj: object, msg?: string): void;
  error(msg: string): void;
  debug(obj: object, msg?: string): void;
  debug(msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
  /** Lets a hot path skip building a log record (and what it reads) at a level that is off. */
  isLevelEnabled(level: string): boolean;
}

export interface LoggerOptions {
  service: string;
  level: string;
  node?: string;
}

/** The one place a pino instance is made: JSON lines to stdout with the service (and node) on each. */
export function createLogger(options: LoggerOptions): Logger {
  const base: Record<string, unknown> = { service: options.service };
  if (options.node !== undefined) base.node = options.node;
  return pino({
    level: options.level,
    base,
    // Tokens and secrets never reach a log line, even when a caller logs a whole object by mistake.
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  });
}

/** A logger that drops everything, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
