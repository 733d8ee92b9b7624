import { InvalidArgumentError, type Command } from 'commander';
import { createHttpClient, type PresenceHttpClient } from '@presence/client';
import type { CliDeps } from './cli-deps.js';
import { UsageError } from './cli-error.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export interface ApiOptions {
  api?: string;
  token?: string;
  json?: boolean;
}

/** The options every command that talks to the HTTP API takes. */
export function addApiOptions(command: Command): Command {
  return command
    .option('--api <url>', `API base URL (default: $PRESENCE_API_URL or ${DEFAULT_API_URL})`)
    .option('--token <token>', 'API bearer token (default: $PRESENCE_API_TOKEN)')
    .option('--json', 'print JSON instead of a table, for scripts');
}

export function apiClient(options: ApiOptions, deps: CliDeps): PresenceHttpClient {
  const baseUrl = options.api ?? deps.env.apiUrl ?? DEFAULT_API_URL;
  if (!/^https?:\/\/[^/\s]+/.test(baseUrl))
    throw new UsageError(`--api must be an http:// or https:// URL (got ${JSON.stringify(baseUrl)})`);
  const token = options.token ?? deps.env.apiToken;
  return createHttpClient({ baseUrl, ...(token !== undefined && token !== '' ? { token } : {}) });
}

/** A commander argument parser for whole numbers in a range. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min || number > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return number;
  };
}
