/**
 * A witness: another process that reaches Redis over another path, asked over HTTP whether Redis
 * answers it (REDIS_WITNESS_URL; in compose the API's `/readyz`, which is 200 only when the API's own
 * PING gets an answer and it has read the event streams). The edge asks only while its own writes go
 * unanswered: "Redis answers the witness" then means this node alone is cut off; no answer, a slow
 * one or anything but 200 means Redis itself is away, for everyone (an outage).
 */
export type WitnessAnswer = { redis: 'up' } | { redis: 'down'; detail: string };

export type Witness = () => Promise<WitnessAnswer>;

/** Asks `url`: 200 within `timeoutMs` is `up`, anything else `down`. Never rejects. */
export function httpWitness(url: string, timeoutMs: number): Witness {
  return async () => {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
      // The body is not needed; reading it frees the connection for the next question.
      await response.arrayBuffer().catch(() => undefined);
      return response.status === 200 ? { redis: 'up' } : { redis: 'down', detail: `${url} answered ${response.status}` };
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : errorText(error);
      return { redis: 'down', detail: `${url}: ${reason}` };
    }
  };
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch wraps the socket error (ECONNREFUSED, ENOTFOUND) as its cause.
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
