import { createHmac } from 'node:crypto';
import { channelEventRef, streamFieldMap, type PresenceEvent } from '@presence/wire-format';
import type { Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import type { Stack } from './stack.js';
import { waitFor } from './wait-for.js';
import { WireClient } from './wire-client.js';

/**
 * Webhook timings for end-to-end tests: retries every 100-400 ms, a 1 s request timeout, and a
 * crashed worker's delivery and fan-out taken over after about 2 s (not less: on a loaded machine a
 * worker that merely stalls that long loses its lock, which the two-worker test tells apart). Every
 * bound a test states derives from these.
 */
export const WEBHOOK_TEST_TIMING = {
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_BACKOFF_MS: '100',
  WEBHOOK_BACKOFF_MAX_MS: '400',
  WEBHOOK_LOCK_MS: '2000',
  WEBHOOK_POLL_MS: '200',
  // Tests deliver to receivers on 127.0.0.1; the address guard has tests of its own.
  WEBHOOK_ALLOW_PRIVATE: 'on',
} as const;

/** A Presence-Signature as docs/webhooks.md defines it: `t=<t>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const sign = (secret: string, t: number, body: string) =>
  `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;

/** The answer to POST /v1/webhooks. */
export interface CreatedWebhook {
  id: string;
  url: string;
  secret: string;
  events: string[];
  filter: { clientIdPrefixes: string[]; channels: string[] };
}

export interface AdminCall {
  status: number;
  body: unknown;
}

/** A call to the admin API with JSON in and out (`token`: a bearer token, if any). */
export async function admin(apiUrl: string, method: string, path: string, body?: unknown, token?: string): Promise<AdminCall> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${apiUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/** Registers a webhook for the clients whose ids start with `prefix` (so that tests sharing a stack don't see each other's events). */
export async function registerWebhook(
  apiUrl: string,
  url: string,
  prefix: string,
  extra: Record<string, unknown> = {},
): Promise<CreatedWebhook> {
  const created = await admin(apiUrl, 'POST', '/v1/webhooks', { url, filter: { clientIdPrefixes: [prefix] }, ...extra });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as CreatedWebhook;
}

/**
 * The ids (`<shard>-<entry id>`, sorted) of the events in the stack's shard streams of the clients
 * that `belongs` picks, read over `redis` (a connection of the caller's that polls) or a connection
 * of its own.
 */
export async function streamEventIds(stack: Stack, belongs: (clientId: string) => boolean, redis?: Redis | Cluster): Promise<string[]> {
  if (redis === undefined) {
    const own = stack.connectRedis();
    try {
      return await streamEventIds(stack, belongs, own);
    } finally {
      own.disconnect();
    }
  }
  const ids: string[] = [];
  for (const shard of stack.keys.allShards()) {
    for (const [entryId, fields] of await redis.xrange(shard.events, '-', '+')) {
      if (belongs(streamFieldMap(fields).get('clientId') ?? '')) ids.push(`${shard.shard}-${entryId}`);
    }
  }
  return ids.sort();
}

/** The events in a channel's stream, as Presence-Event-Ids names them (`<channel>=<entry id>`), in stream order. */
export async function channelEventRefs(stack: Stack, channel: string): Promise<string[]> {
  const redis = stack.connectRedis();
  try {
    return (await redis.xrange(stack.keys.channel(channel).events, '-', '+')).map(([id]) => channelEventRef({ channel, id }));
  } finally {
    redis.disconnect();
  }
}

/**
 * Each client connects and leaves (BYE): an online and an offline event per id. Returns once the
 * edge has written them all: it answers WELCOME and closes before its batched writes, and a client
 * that reconnects before its offline is written was, for Redis, never offline (no event pair).
 */
export async function blink(stack: Stack, ids: readonly string[]): Promise<void> {
  const port = (stack.edges[0] as { port: number }).port;
  const wanted = new Set(ids);
  const mine = (id: string) => wanted.has(id);
  // One connection for the whole wait: a new one per poll would rediscover a cluster's slots each time.
  const redis = stack.connectRedis();
  try {
    const before = (await streamEventIds(stack, mine, redis)).length;
    const sessions = await Promise.all(ids.map((id) => WireClient.session(port, id, 0)));
    await Promise.all(sessions.map((session) => session.client.bye()));
    await waitFor(async () => (await streamEventIds(stack, mine, redis)).length === before + 2 * ids.length, {
      what: `the online and offline events of ${ids.length} clients in the streams`,
    });
  } finally {
    redis.disconnect();
  }
}

/** A numbered id list: `${prefix}0`, `${prefix}1`, … */
export const clientIds = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/** The position of an event in its shard stream, for ordering a client's events. */
function streamPosition(event: PresenceEvent): [number, number] {
  const [, ms, seq] = event.id.split('-');
  return [Number(ms), Number(seq)];
}

/**
 * The ordering webhooks guarantee: with repeats removed (by id), each client's events arrive in the
 * order of its shard stream, which is the order they happened, so `offline` never comes before its
 * `online`. Checks `delivered` (in arrival order) and returns how many clients it checked.
 */
export function expectPerClientOrder(delivered: readonly PresenceEvent[]): number {
  const seen = new Set<string>();
  const byClient = new Map<string, PresenceEvent[]>();
  for (const event of delivered) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    byClient.set(event.clientId, [...(byClient.get(event.clientId) ?? []), event]);
  }
  for (const [client, events] of byClient) {
    const positions = events.map(streamPosition);
    for (let i = 1; i < positions.length; i += 1) {
      const [prevMs, prevSeq] = positions[i - 1] as [number, number];
      const [ms, seq] = positions[i] as [number, number];
      expect(ms > prevMs || (ms === prevMs && seq > prevSeq), `${client}: ${events[i - 1]?.id} arrived before ${events[i]?.id}`).toBe(true);
    }
    expect(
      events.map((event) => event.type),
      `${client} alternates online/offline from online`,
    ).toEqual(events.map((_, i) => (i % 2 === 0 ? 'online' : 'offline')));
  }
  return byClient.size;
}

/** The value of a metric on a Prometheus page, summed over the series whose labels include `labels`. */
export async function metricValue(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
