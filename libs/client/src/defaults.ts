/**
 * Every default of the SDK in one place. docs/client.md explains each number and compares it with
 * what other real-time clients do; change them per client through the options objects.
 */
export const DEFAULTS = Object.freeze({
  /** Edge node (or TCP load balancer) to connect to when no `endpoints` are given. */
  host: '127.0.0.1',
  /** Port of the edge node or load balancer (the server's default `EDGE_PORT`). */
  port: 7070,
  /**
   * Ceiling of the first reconnect delay. Delays are "full jitter": random in 0..ceiling, the
   * ceiling doubling per failed attempt. 500 ms heals a blip before a user notices.
   */
  backoffBaseMs: 500,
  /** Largest reconnect delay ceiling: a long outage costs each client one attempt per 15 s on average. */
  backoffCapMs: 30_000,
  /** A connection that lived this long resets the backoff; shorter ones keep backing off (crash loops). */
  stableAfterMs: 60_000,
  /** Reconnect attempts in a row before giving up with `retries_exhausted`; Infinity retries forever. */
  maxReconnectAttempts: Number.POSITIVE_INFINITY,
  /**
   * After `BYE shutdown` (a draining node) the client reconnects after a random 0..2000 ms, so a
   * node's clients don't arrive at the others in one burst, yet come back well within the server's
   * 5 s offline grace (`OFFLINE_GRACE_MS`): a drain then shows no one offline.
   */
  shutdownJitterMs: 2_000,
  /** TCP connect plus HELLO/WELCOME must finish within this, or the attempt counts as failed (dead peer). */
  connectTimeoutMs: 10_000,
  /** At most one state update per this interval; newer states replace queued ones (latest wins). */
  stateMinIntervalMs: 1_000,
  /** `close()` waits this long for the server to confirm BYE by closing the connection. */
  closeTimeoutMs: 2_000,
  /** An HTTP API call that has no answer after this long fails with `timeout`. */
  httpTimeoutMs: 10_000,
  /** Delay ceiling of the first SSE reconnect, until the server sends its own `retry:` (the API sends 1000). */
  eventsRetryMs: 1_000,
  /** Largest SSE reconnect delay ceiling while the API stays unreachable. */
  eventsRetryCapMs: 30_000,
  /** An SSE stream silent this long (no event, no keep-alive comment) is treated as dead: 3 × the API's 15 s keep-alive. */
  eventsIdleTimeoutMs: 45_000,
  /** Redis key prefix of the deployment (`KEY_PREFIX`). */
  keyPrefix: 'presence',
  /** Shards of the deployment (`SHARD_COUNT`); the stream consumer reads one stream per shard. */
  shardCount: 16,
  /** Stream entries read per shard per call. */
  consumerBatchSize: 100,
  /** Every shard stream is read at least this often even when no pub/sub wake-up arrives. */
  consumerPollMs: 1_000,
  /** A pending entry idle this long belongs to a consumer presumed dead and is claimed by another. */
  consumerClaimIdleMs: 60_000,
  /** How often a consumer looks for other consumers' abandoned entries (XAUTOCLAIM). */
  consumerClaimIntervalMs: 15_000,
  /** stop() waits this long for the handler in progress before abandoning it (its event is redelivered). */
  consumerStopTimeoutMs: 10_000,
});
