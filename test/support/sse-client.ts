import { request, type ClientRequest } from 'node:http';
import { recordSseFrame } from './contract-recorder.js';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/**
 * A minimal SSE reader for tests: collects messages, remembers the last id the way EventSource does
 * (an id-only message moves it too), and can be closed to simulate a dropped subscriber.
 */
export class SseClient {
  readonly messages: SseMessage[] = [];
  lastEventId: string | null = null;
  status = 0;
  private request: ClientRequest | null = null;
  private buffer = '';
  private url = '';
  ended = false;

  /** `headers` are sent as given (e.g. `authorization`). */
  static async open(url: string, lastEventId?: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    await client.start(url, lastEventId, headers);
    return client;
  }

  private start(url: string, lastEventId: string | undefined, extraHeaders: Record<string, string>): Promise<void> {
    this.url = url;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...extraHeaders, accept: 'text/event-stream' };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const req = request(url, { headers }, (res) => {
        this.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.feed(chunk));
        res.on('end', () => {
          this.ended = true;
        });
        res.on('error', () => {
          this.ended = true;
        });
        resolve();
      });
      req.on('error', (error) => {
        this.ended = true;
        reject(error);
      });
      req.end();
      this.request = req;
    });
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let end = this.buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let id: string | null = null;
      let event = 'message';
      let named: string | null = null;
      let retry: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = named = value;
        else if (field === 'data') data.push(value);
        else if (field === 'retry') retry = value;
      }
      // The contract test holds every frame against the OpenAPI document (comment-only blocks are no frames).
      if (id !== null || named !== null || retry !== null || data.length > 0) {
        recordSseFrame(this.url, { id, event: named, data: data.length > 0 ? data.join('\n') : null, retry });
      }
      if (id !== null) this.lastEventId = id;
      if (data.length > 0) this.messages.push({ id, event, data: data.join('\n') });
      end = this.buffer.indexOf('\n\n');
    }
  }

  /** Parsed presence events received so far. */
  events<T = Record<string, unknown>>(): T[] {
    return this.messages.filter((m) => m.event === 'online' || m.event === 'offline').map((m) => JSON.parse(m.data) as T);
  }

  close(): void {
    this.request?.destroy();
    this.ended = true;
  }
}
