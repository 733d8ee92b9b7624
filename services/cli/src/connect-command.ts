import { createInterface } from 'node:readline';
import { createPresenceClient, PresenceClientError, type PresenceState } from '@presence/client';
import type { CliDeps } from './cli-deps.js';
import { UsageError } from './cli-error.js';

export interface ConnectOptions {
  host: string;
  port: number;
  state?: string;
  token?: string;
  json?: boolean;
  verbose?: boolean;
  /** `--join`, repeatable: channels joined on every session. */
  join?: string[];
}

/**
 * `presence connect <clientId>`: holds a real session with the SDK, printing a line when it
 * connects, drops and reconnects. Each line typed on stdin is sent as the new state. Ctrl-C leaves
 * with BYE (the client goes offline with reason `leave`) and exits 0.
 */
export async function runConnect(clientId: string, options: ConnectOptions, deps: CliDeps): Promise<void> {
  const state = options.state === undefined ? undefined : parseState(options.state, '--state');
  const client = createPresenceClient({
    clientId,
    host: options.host,
    port: options.port,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(state !== undefined ? { state } : {}),
    ...(options.join !== undefined ? { channels: options.join } : {}),
  });
  const say = (record: Record<string, unknown>, text: string) => deps.out(options.json ? `${JSON.stringify(record)}\n` : `${text}\n`);

  client.on('connected', (info) => {
    const where = `${info.endpoint.host}:${info.endpoint.port}`;
    say(
      { event: 'connected', ...info },
      `connected to ${where} as ${clientId}: session ${info.sessionId}, ` +
        `heartbeat every ${info.intervalMs} ms, timeout ${info.timeoutMs} ms`,
    );
  });
  client.on('disconnected', (info) => {
    const why = info.reason === 'leave' ? 'leave (said BYE)' : info.code !== null ? `${info.reason}: ${info.code}` : info.reason;
    say({ event: 'disconnected', reason: info.reason, code: info.code, error: info.error?.message ?? null }, `disconnected: ${why}`);
  });
  client.on('reconnecting', (info) => {
    const where = `${info.endpoint.host}:${info.endpoint.port}`;
    const cause = info.error === null ? '' : `: ${info.error.message}`;
    say(
      {
        event: 'reconnecting',
        attempt: info.attempt,
        delayMs: info.delayMs,
        endpoint: info.endpoint,
        reason: info.reason,
        error: info.error?.message ?? null,
      },
      `reconnecting to ${where} in ${info.delayMs} ms (attempt ${info.attempt}, ${info.reason}${cause})`,
    );
  });
  client.on('channel', (reply) => {
    if (reply.result === 'nack') {
      say({ event: 'channel', ...reply }, `${reply.channel}: refused: ${reply.code}${reply.message === '' ? '' : `: ${reply.message}`}`);
      return;
    }
    const occupancy = `${reply.clients} ${reply.clients === 1 ? 'client' : 'clients'}, ${reply.sessions} ${reply.sessions === 1 ? 'session' : 'sessions'}`;
    say({ event: 'channel', ...reply }, `${reply.result} ${reply.channel} (${occupancy})`);
  });
  if (options.verbose) client.on('rtt', (ms) => say({ event: 'rtt', ms }, `rtt ${ms.toFixed(2)} ms`));

  // Set by the 'error' listener: typed by hand, or TypeScript narrows it to `null` for good.
  let fatal = null as PresenceClientError | null;
  const finished = new Promise<void>((resolve) => {
    client.on('error', (error) => {
      fatal = error;
      resolve();
    });
    const unregister = deps.onStop(() => {
      unregister();
      void client.close().then(resolve);
    });
  });
  const input = deps.input();
  const lines = input === null ? null : createInterface({ input, terminal: false });
  lines?.on('line', (line) => {
    if (line.trim() === '') return;
    try {
      client.setState(parseState(line, 'a state line'));
      say({ event: 'state', state: client.state }, `state: ${JSON.stringify(client.state)}`);
    } catch (error) {
      deps.err(`presence: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  });
  // Rejections arrive as the 'error' event too; this one only keeps them from going unhandled.
  client.connect().catch(() => {});
  try {
    await finished;
  } finally {
    lines?.close();
  }
  if (fatal !== null) throw fatal;
}

function parseState(text: string, what: string): PresenceState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${what} must be a JSON object, like '{"status":"away"}' (got ${JSON.stringify(text)})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`${what} must be a JSON object, like '{"status":"away"}' (got ${JSON.stringify(text)})`);
  }
  return value as PresenceState;
}
