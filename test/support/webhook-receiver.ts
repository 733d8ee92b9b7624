import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { PresenceEvent } from '@presence/wire-format';
import { freePort } from './free-port.js';

/** One request a receiver got, and what it answered. */
export interface ReceivedRequest {
  /** Date.now() when its body had arrived. */
  receivedAt: number;
  headers: IncomingHttpHeaders;
  /** The raw body, as sent (signatures are over these bytes). */
  body: string;
  /** Presence-Event-Ids, split. */
  eventIds: string[];
  events: PresenceEvent[];
  /** The status answered; null while it hangs, or when it never answered. */
  status: number | null;
  /** Date.now() when the sender closed the connection of a request that was never answered. */
  abandonedAt: number | null;
}

/**
 * How to answer a request: a status, a status with headers (a redirect's Location), or `hang`
 * (read it, never answer: the sender has to give up).
 */
export type Answer = number | { status: number; headers: Record<string, string> } | 'hang';

/**
 * A real HTTP webhook receiver on a loopback port: records every request with its raw body and
 * headers and answers as `answer` says (200 unless told otherwise). `stop()` closes the port
 * (connections are then refused) and `start()` opens the same one again.
 */
export class WebhookReceiver {
  readonly port: number;
  readonly requests: ReceivedRequest[] = [];
  answer: (request: ReceivedRequest, index: number) => Answer = () => 200;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<() => void>();

  private constructor(port: number) {
    this.port = port;
  }

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(await freePort());
    await receiver.start();
    return receiver;
  }

  /** Starts a receiver and adds it to `started`, the list a test file stops after its tests. */
  static async startInto(started: WebhookReceiver[]): Promise<WebhookReceiver> {
    const receiver = await WebhookReceiver.start();
    started.push(receiver);
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let events: PresenceEvent[] = [];
        try {
          events = (JSON.parse(body) as { events: PresenceEvent[] }).events;
        } catch {
          // recorded as it came
        }
        const request: ReceivedRequest = {
          receivedAt: Date.now(),
          headers: req.headers,
          body,
          eventIds: String(req.headers['presence-event-ids'] ?? '')
            .split(',')
            .filter((id) => id !== ''),
          events,
          status: null,
          abandonedAt: null,
        };
        const index = this.requests.push(request) - 1;
        const answer = this.answer(request, index);
        if (answer === 'hang') {
          res.on('close', () => {
            if (request.status === null) request.abandonedAt = Date.now();
          });
          // Answered 200 only if the test releases it while the sender still waits.
          this.hanging.add(() => {
            if (res.writableEnded || res.destroyed) return;
            request.status = 200;
            res.writeHead(200).end();
          });
          return;
        }
        const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
        request.status = status;
        res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(status < 300 ? 'ok' : 'no');
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Answers every hanging request with 200 (those whose sender has not given up yet). */
  releaseHanging(): void {
    for (const release of this.hanging) release();
    this.hanging.clear();
  }

  /** Closes the port and every connection: senders get refused (or reset) until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.hanging.clear();
    if (server === null) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests that hang now, their sender still waiting. */
  waiting(): ReceivedRequest[] {
    return this.requests.filter((request) => request.status === null && request.abandonedAt === null);
  }

  /** Requests answered with a 2xx. */
  accepted(): ReceivedRequest[] {
    return this.requests.filter((request) => request.status !== null && request.status >= 200 && request.status < 300);
  }

  /** The events of accepted requests, in arrival order, repeats included. */
  deliveredEvents(): PresenceEvent[] {
    return this.accepted().flatMap((request) => request.events);
  }

  /** The ids of the delivered events, each once, sorted (to compare with the ids in the streams). */
  deliveredIds(): string[] {
    return this.uniqueDelivered()
      .map((event) => event.id)
      .sort();
  }

  /**
   * Each delivered event once by its Presence-Event-Ids entry (a channel event's is
   * `<channel>=<id>`: its `id` is unique within its channel only), in the order of first arrival.
   */
  deliveredByRef(): Map<string, unknown> {
    const byRef = new Map<string, unknown>();
    for (const request of this.accepted()) {
      request.eventIds.forEach((ref, i) => {
        if (!byRef.has(ref)) byRef.set(ref, request.events[i]);
      });
    }
    return byRef;
  }

  /** Each delivered event id once, in the order of first arrival. */
  uniqueDelivered(): PresenceEvent[] {
    const seen = new Set<string>();
    return this.deliveredEvents().filter((event) => !seen.has(event.id) && seen.add(event.id));
  }
}
