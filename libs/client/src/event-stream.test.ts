import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventStream, type EventStreamRetry } from './event-stream.js';

// fetch is replaced by a scripted API: each call answers with the next scripted response, and the
// test sees the headers each (re)connection sent.

interface Scripted {
  status?: number;
  type?: string;
  /** Chunks of the body; the stream then ends (or stays open when `hang`). */
  chunks?: string[];
  hang?: boolean;
  body?: string;
}

let requests: { url: string; headers: Record<string, string> }[];

function script(responses: Scripted[]): void {
  requests = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    requests.push({ url, headers: { ...(init.headers as Record<string, string>) } });
    const next = responses.shift();
    if (next === undefined) throw new TypeError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
    const status = next.status ?? 200;
    if (status !== 200) return new Response(next.body ?? '', { status });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of next.chunks ?? []) controller.enqueue(encoder.encode(chunk));
        if (!next.hang) controller.close();
        init.signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
      },
    });
    return new Response(body, { status, headers: { 'content-type': next.type ?? 'text/event-stream; charset=utf-8' } });
  });
}

const event = (id: string, type: string, clientId: string) =>
  `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify({ id: `0-${id}`, type, clientId, sessionId: 's', node: 'n', reason: null, at: 1 })}` +
  '\n\n';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('EventStream', () => {
  it('resumes after `event: error` (dropped) with Last-Event-ID = the last id, id-only messages included', async () => {
    script([
      { chunks: ['retry: 5\nid: c0\n\n', event('c1', 'online', 'a'), 'event: error\ndata: {"code":"dropped","message":"slow"}\n\n'] },
      { chunks: ['retry: 5\nid: c1\n\n', event('c2', 'offline', 'a')], hang: true },
    ]);
    const retries: EventStreamRetry[] = [];
    const stream = new EventStream({ baseUrl: 'http://api', types: ['online', 'offline'], onRetry: (r) => void retries.push(r) });
    const seen: string[] = [];
    for await (const item of stream) {
      seen.push(`${item.id} ${item.event.type} ${item.event.clientId}`);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(['c1 online a', 'c2 offline a']);
    expect(requests.map((r) => r.headers['last-event-id'])).toEqual([undefined, 'c1']);
    expect(requests[0]?.url).toBe('http://api/v1/events?types=online,offline');
    expect(retries).toHaveLength(1);
    expect(retries[0]?.error).toMatchObject({ code: 'dropped' });
    expect(retries[0]?.delayMs).toBeLessThan(5);
    expect(stream.lastEventId).toBe('c2');
  });

  it('an id-only opening message is the resume point even when no event came before the drop', async () => {
    script([{ chunks: ['id: start-cursor\n\n'] }, { chunks: [event('c9', 'online', 'b')], hang: true }]);
    const stream = new EventStream({ baseUrl: 'http://api', retryMs: 1 });
    for await (const item of stream) {
      expect(item.id).toBe('c9');
      break;
    }
    expect(requests.map((r) => r.headers['last-event-id'])).toEqual([undefined, 'start-cursor']);
  });

  it('retries while the API is down or answers 503, then resumes from `after`', async () => {
    script([
      { status: 503, body: '{"error":{"code":"unavailable","message":"Redis is unavailable"}}' },
      { chunks: [event('c3', 'online', 'c')], hang: true },
    ]);
    const codes: string[] = [];
    const stream = new EventStream({
      baseUrl: 'http://api',
      after: 'c2',
      retryMs: 1,
      token: 'secret-token',
      onRetry: (r) => void codes.push((r.error as unknown as { code: string }).code),
    });
    for await (const item of stream) {
      expect(item.event.clientId).toBe('c');
      break;
    }
    expect(codes).toEqual(['unavailable']);
    expect(requests.map((r) => [r.headers['last-event-id'], r.headers.authorization])).toEqual([
      ['c2', 'Bearer secret-token'],
      ['c2', 'Bearer secret-token'],
    ]);
  });

  it('throws what retrying cannot fix: 401, a bad cursor, a body that is not an event stream', async () => {
    script([{ status: 401, body: '{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}' }]);
    await expect(new EventStream({ baseUrl: 'http://api' })[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'unauthorized',
      status: 401,
    });
    script([{ status: 400, body: '{"error":{"code":"bad_cursor","message":"not an id from this stream"}}' }]);
    await expect(new EventStream({ baseUrl: 'http://api', after: 'junk' })[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'bad_cursor',
    });
    script([{ type: 'text/html', chunks: ['<html>'] }]);
    await expect(new EventStream({ baseUrl: 'http://api' })[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'bad_response' });
    expect(requests).toHaveLength(1);
  });

  it('lets onRetry stop the retries (return false): the error is thrown', async () => {
    script([]);
    const stream = new EventStream({ baseUrl: 'http://api', onRetry: () => false });
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'unreachable',
      message: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('treats a silent stream as dead after idleTimeoutMs and resumes', async () => {
    script([
      { chunks: ['id: c5\n\n'], hang: true },
      { chunks: [event('c6', 'online', 'd')], hang: true },
    ]);
    const retries: EventStreamRetry[] = [];
    const stream = new EventStream({ baseUrl: 'http://api', idleTimeoutMs: 50, retryMs: 1, onRetry: (r) => void retries.push(r) });
    for await (const item of stream) {
      expect(item.id).toBe('c6');
      break;
    }
    expect(retries[0]?.error).toMatchObject({ code: 'idle' });
    expect(requests[1]?.headers['last-event-id']).toBe('c5');
  });

  it('close() ends a pending iteration', async () => {
    script([{ chunks: ['id: c7\n\n'], hang: true }]);
    const stream = new EventStream({ baseUrl: 'http://api' });
    const next = stream[Symbol.asyncIterator]().next();
    await vi.waitFor(() => expect(requests).toHaveLength(1));
    stream.close();
    await expect(next).resolves.toEqual({ done: true, value: undefined });
  });
});
