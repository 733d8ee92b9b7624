import { CommanderError } from 'commander';
import { PresenceApiError, PresenceClientError } from '@presence/client';

/** Exit codes: 0 done, 1 the command failed (API unreachable, refused, server error), 2 bad usage. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure the CLI reports as one line, `presence: <message>`, with its exit code. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT_FAILURE, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Bad arguments or options: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** The one line (without the `presence: ` prefix) and exit code for any error a command threw. */
export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof CommanderError) {
    return { message: `${error.message.replace(/^error: /, '')} (see presence --help)`, exitCode: EXIT_USAGE };
  }
  if (error instanceof PresenceApiError) {
    switch (error.code) {
      case 'unreachable':
        return { message: `${error.message}; is it running? (set --api or PRESENCE_API_URL)`, exitCode: EXIT_FAILURE };
      case 'unauthorized':
        return { message: `${error.message}; set --token or PRESENCE_API_TOKEN`, exitCode: EXIT_FAILURE };
      case 'timeout':
        return { message: error.message, exitCode: EXIT_FAILURE };
      default:
        return { message: `${error.message} (${error.code})`, exitCode: EXIT_FAILURE };
    }
  }
  if (error instanceof PresenceClientError) {
    // Refused by the SDK before anything was sent (an id with a space): the arguments are wrong.
    return { message: error.message, exitCode: error.code === 'bad_argument' ? EXIT_USAGE : EXIT_FAILURE };
  }
  return { message: `unexpected error: ${error instanceof Error ? error.message : String(error)}`, exitCode: EXIT_FAILURE };
}
