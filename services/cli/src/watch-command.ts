import type { ChannelEventType, EventStreamOptions, PresenceEventType } from '@presence/client';
import { apiClient, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';
import { UsageError } from './cli-error.js';
import { formatChannelEventLine, formatEventLine } from './format.js';

export interface WatchOptions extends ApiOptions {
  types?: string;
  after?: string;
  /** `--channel`, repeatable: the channels' events (join, leave, update) instead of the client events. */
  channel?: string[];
}

/**
 * `presence watch`: prints events as they happen, one line each, until Ctrl-C. Drops and API
 * restarts are resumed from the last event (none lost, none repeated), with a notice on stderr.
 * A first connection that fails is an error (exit 1), not a retry loop.
 */
export async function runWatch(options: WatchOptions, deps: CliDeps): Promise<void> {
  const channels = options.channel ?? [];
  const types = channels.length === 0 ? parseTypes(options.types) : null;
  const channelTypes = channels.length === 0 ? null : parseChannelTypes(options.types);
  const http = apiClient(options, deps);
  let opened = false;
  const streamOptions: Pick<EventStreamOptions, 'after' | 'onOpen' | 'onRetry'> = {
    ...(options.after !== undefined ? { after: options.after } : {}),
    onOpen: ({ reconnected }) => {
      opened = true;
      if (reconnected) deps.err('presence: event stream resumed\n');
      else if (deps.interactive) deps.err(`presence: watching ${http.baseUrl}/v1/events (Ctrl-C stops)\n`);
    },
    onRetry: ({ error, delayMs }) => {
      if (!opened) return false;
      deps.err(`presence: event stream interrupted (${error.message}); resuming in ${delayMs} ms\n`);
      return true;
    },
  };
  if (channels.length > 0) {
    const stream = http.channelEvents({ ...streamOptions, channels, ...(channelTypes !== null ? { types: channelTypes } : {}) });
    const unregister = deps.onStop(() => stream.close());
    try {
      for await (const { id, event } of stream) {
        deps.out(options.json ? `${JSON.stringify({ id, event })}\n` : `${formatChannelEventLine(event)}\n`);
      }
    } finally {
      unregister();
    }
    return;
  }
  const stream = http.events({ ...streamOptions, ...(types !== null ? { types } : {}) });
  const unregister = deps.onStop(() => stream.close());
  try {
    for await (const { id, event } of stream) {
      deps.out(options.json ? `${JSON.stringify({ id, event })}\n` : `${formatEventLine(event)}\n`);
    }
  } finally {
    unregister();
  }
}

function parseChannelTypes(value: string | undefined): ChannelEventType[] | null {
  if (value === undefined) return null;
  const types = value.split(',').map((t) => t.trim());
  if (types.length === 0 || types.some((t) => t !== 'join' && t !== 'leave' && t !== 'update')) {
    throw new UsageError(`with --channel, --types must list join, leave, update (got ${JSON.stringify(value)})`);
  }
  return [...new Set(types)] as ChannelEventType[];
}

function parseTypes(value: string | undefined): PresenceEventType[] | null {
  if (value === undefined) return null;
  const types = value.split(',').map((t) => t.trim());
  if (types.length === 0 || types.some((t) => t !== 'online' && t !== 'offline')) {
    throw new UsageError(`--types must be online, offline or online,offline (got ${JSON.stringify(value)})`);
  }
  return [...new Set(types)] as PresenceEventType[];
}
