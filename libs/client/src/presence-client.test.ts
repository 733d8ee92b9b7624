import { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PresenceClientError } from './errors.js';
import {
  createPresenceClient,
  type ConnectedInfo,
  type PresenceClient,
  type PresenceClientOptions,
  type ReconnectingInfo,
} from './presence-client.js';

/** The server's end of one connection, in memory: records the client's frames, says what a test tells it to. */
class FakePeer extends Duplex {
  readonly frames: { at: number; frame: string }[] = [];
  private partial = '';

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.partial += chunk.toString('utf8');
    let newline = this.partial.indexOf('\n');
    while (newline !== -1) {
      this.frames.push({ at: Date.now(), frame: this.partial.slice(0, newline) });
      this.partial = this.partial.slice(newline + 1);
      newline = this.partial.indexOf('\n');
    }
    callback();
  }

  override _read(): void {}

  say(line: string): void {
    this.push(`${line}\n`);
  }

  sent(): string[] {
    return this.frames.map((f) => f.frame);
  }
}

let peers: FakePeer[];
let client: PresenceClient;
const T0 = 1_000_000;

function start(options: Partial<PresenceClientOptions> = {}): PresenceClient {
  client = createPresenceClient({
    clientId: 'alice',
    createConnection: () => {
      const peer = new FakePeer();
      peers.push(peer);
      return peer;
    },
    ...options,
  });
  return client;
}

function peer(index: number): FakePeer {
  const found = peers[index];
  if (found === undefined) throw new Error(`no connection ${index} was opened`);
  return found;
}

/** Lets stream callbacks (nextTick) and due timers run. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  peers = [];
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('PresenceClient heartbeats', () => {
  it('says HELLO, adopts the interval from WELCOME and sends its state right after', async () => {
    const connected = vi.fn<(info: ConnectedInfo) => void>();
    start({ state: { status: 'away' }, token: 'tok' }).on('connected', connected);
    const ready = client.connect();
    await advance(0);
    expect(peer(0).sent()).toEqual(['HELLO alice tok']);
    peer(0).say('WELCOME s1 1000 3000');
    await expect(ready).resolves.toMatchObject({ sessionId: 's1', intervalMs: 1000, timeoutMs: 3000, reconnected: false });
    expect(connected).toHaveBeenCalledOnce();
    expect(peer(0).sent()).toEqual(['HELLO alice tok', 'PING {"status":"away"}']);
  });

  it('sends PING only after one interval with nothing sent; a state update pushes the next one back', async () => {
    start({ stateMinIntervalMs: 0 });
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(999);
    expect(peer(0).sent()).toEqual(['HELLO alice']);
    await advance(1);
    expect(peer(0).frames.at(-1)).toEqual({ at: T0 + 1000, frame: 'PING' });
    peer(0).say('PONG');
    await advance(500);
    client.setState({ level: 2 });
    expect(peer(0).frames.at(-1)).toEqual({ at: T0 + 1500, frame: 'PING {"level":2}' });
    peer(0).say('PONG');
    await advance(999);
    expect(peer(0).frames).toHaveLength(3);
    await advance(1);
    expect(peer(0).frames.at(-1)).toEqual({ at: T0 + 2500, frame: 'PING' });
  });

  it('rate-limits state updates: the first goes out at once, later ones coalesce (latest wins)', async () => {
    start({ stateMinIntervalMs: 1000 });
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 10000 30000');
    await advance(0);
    client.setState({ n: 1 });
    client.setState({ n: 2 });
    await advance(300);
    client.setState({ n: 3 });
    expect(peer(0).sent().slice(1)).toEqual(['PING {"n":1}']);
    await advance(700);
    expect(peer(0).sent().slice(1)).toEqual(['PING {"n":1}', 'PING {"n":3}']);
  });

  it('measures the round trip of each PING', async () => {
    const rtts: number[] = [];
    start().on('rtt', (ms) => rtts.push(ms));
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(1000);
    await advance(42);
    peer(0).say('PONG');
    await advance(0);
    expect(rtts).toEqual([42]);
    expect(client.rttMs).toBe(42);
  });

  it('refuses a state the server would refuse, before sending it', () => {
    start();
    expect(() => client.setState([] as never)).toThrow(PresenceClientError);
    expect(() => client.setState({ blob: 'x'.repeat(1100) })).toThrow(/at most 1024 bytes/);
  });
});

describe('PresenceClient dead-peer detection and reconnects', () => {
  it('declares the connection dead when a PING has no answer within the server timeout', async () => {
    const disconnected = vi.fn();
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    start({ backoffBaseMs: 100 }).on('disconnected', disconnected).on('reconnecting', reconnecting);
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(1000);
    expect(peer(0).sent().at(-1)).toBe('PING');
    await advance(2999);
    expect(disconnected).not.toHaveBeenCalled();
    await advance(1);
    expect(disconnected).toHaveBeenCalledWith(expect.objectContaining({ reason: 'dead', willReconnect: true }));
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ attempt: 1, reason: 'dead' }));
    expect(reconnecting.mock.calls[0]?.[0].delayMs).toBeLessThan(100);
    expect(peer(0).destroyed).toBe(true);
  });

  it('gives up on a peer that accepts but never says WELCOME after connectTimeoutMs', async () => {
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    start({ connectTimeoutMs: 500 }).on('reconnecting', reconnecting);
    void client.connect();
    await advance(499);
    expect(reconnecting).not.toHaveBeenCalled();
    await advance(1);
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ reason: 'dead', attempt: 1 }));
  });

  it('reconnects after the socket closes and sends its last state again on the new session', async () => {
    const connected = vi.fn<(info: ConnectedInfo) => void>();
    start({ state: { s: 1 }, backoffBaseMs: 100, stateMinIntervalMs: 0 }).on('connected', connected);
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(0);
    client.setState({ s: 2 });
    peer(0).destroy();
    await advance(100);
    expect(peers).toHaveLength(2);
    peer(1).say('WELCOME s2 1000 3000');
    await advance(0);
    expect(peer(1).sent()).toEqual(['HELLO alice', 'PING {"s":2}']);
    expect(connected.mock.calls.map((c) => c[0].reconnected)).toEqual([false, true]);
  });

  it('backs off with growing ceilings and rotates through the endpoints', async () => {
    // Every draw at the top of its window, so each delay is its attempt's ceiling less 1 ms: a backoff
    // that does not grow, or that always waits 0, gives other delays.
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999);
    const delays: number[] = [];
    const endpoints = [
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ];
    const seen: string[] = [];
    const attemptedAt: number[] = [];
    client = createPresenceClient({
      clientId: 'alice',
      endpoints,
      backoffBaseMs: 100,
      backoffCapMs: 400,
      createConnection: (endpoint) => {
        seen.push(endpoint.host);
        attemptedAt.push(Date.now());
        const p = new FakePeer();
        peers.push(p);
        queueMicrotask(() => p.destroy());
        return p;
      },
    });
    client.on('reconnecting', (info) => delays.push(info.delayMs));
    void client.connect();
    await advance(2_000);
    expect(seen.slice(0, 4)).toEqual(['a', 'b', 'a', 'b']);
    expect(delays.slice(0, 5)).toEqual([99, 199, 399, 399, 399]);
    // The client waited them out: each attempt came its delay after the previous one failed.
    const gaps = attemptedAt.slice(1, 5).map((at, i) => at - (attemptedAt[i] as number));
    expect(gaps).toEqual([99, 199, 399, 399]);
  });

  it('after BYE shutdown, comes back within the shutdown jitter window', async () => {
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    start({ shutdownJitterMs: 2000, backoffBaseMs: 100 }).on('reconnecting', reconnecting);
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(0);
    peer(0).say('BYE shutdown');
    await advance(0);
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ reason: 'shutdown' }));
    expect(reconnecting.mock.calls[0]?.[0].delayMs).toBeLessThan(2000);
    await advance(2000);
    expect(peers).toHaveLength(2);
  });

  it('after BYE moved, reconnects at once, to the next endpoint', async () => {
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    const disconnected = vi.fn();
    const endpoints = [
      { host: 'a', port: 1 },
      { host: 'b', port: 2 },
    ];
    start({ endpoints, shutdownJitterMs: 2000, backoffBaseMs: 1000 }).on('reconnecting', reconnecting).on('disconnected', disconnected);
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(0);
    peer(0).say('BYE moved');
    await advance(0);
    expect(disconnected).toHaveBeenCalledWith(expect.objectContaining({ reason: 'moved', willReconnect: true }));
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ reason: 'moved', delayMs: 0, endpoint: { host: 'b', port: 2 } }));
    expect(peers).toHaveLength(2);
    expect(peer(1).sent()).toEqual(['HELLO alice']);
  });

  it('stops for good on a fatal ERR: error event, rejected connect(), no retry', async () => {
    const error = vi.fn();
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    start().on('error', error).on('reconnecting', reconnecting);
    const ready = client.connect();
    await advance(0);
    peer(0).say('ERR unauthorized token expired');
    await expect(ready).rejects.toMatchObject({ code: 'unauthorized' });
    expect(error).toHaveBeenCalledWith(expect.objectContaining({ code: 'unauthorized' }));
    await advance(60_000);
    expect(reconnecting).not.toHaveBeenCalled();
    expect(peers).toHaveLength(1);
    expect(client.status).toBe('closed');
  });

  it('retries a retryable ERR (hello_timeout, server_busy, an unknown code)', async () => {
    const reconnecting = vi.fn<(info: ReconnectingInfo) => void>();
    start({ backoffBaseMs: 100 }).on('reconnecting', reconnecting);
    void client.connect();
    await advance(0);
    peer(0).say('ERR server_busy this node is full');
    await advance(100);
    expect(reconnecting).toHaveBeenCalledWith(expect.objectContaining({ reason: 'error' }));
    expect(peers).toHaveLength(2);
  });

  it('gives up after maxReconnectAttempts failures in a row', async () => {
    const error = vi.fn();
    client = createPresenceClient({
      clientId: 'alice',
      backoffBaseMs: 10,
      maxReconnectAttempts: 2,
      createConnection: () => {
        const p = new FakePeer();
        peers.push(p);
        queueMicrotask(() => p.destroy());
        return p;
      },
    });
    client.on('error', error);
    const ready = client.connect();
    const outcome = ready.catch((e: unknown) => e);
    await advance(1_000);
    expect(await outcome).toMatchObject({ code: 'retries_exhausted' });
    expect(peers).toHaveLength(3);
    expect(error).toHaveBeenCalledOnce();
  });

  it('close() says BYE, reports leave and does not reconnect', async () => {
    const disconnected = vi.fn();
    start().on('disconnected', disconnected);
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(0);
    const closed = client.close();
    await advance(0);
    expect(peer(0).sent().at(-1)).toBe('BYE');
    peer(0).destroy();
    await closed;
    expect(disconnected).toHaveBeenCalledWith({ reason: 'leave', code: null, willReconnect: false, error: null });
    await advance(60_000);
    expect(peers).toHaveLength(1);
  });

  it("retries at once when the browser says the network is back ('online'), instead of waiting out the backoff", async () => {
    const network = new EventTarget();
    start({ networkEvents: network, backoffBaseMs: 60_000, backoffCapMs: 60_000 });
    void client.connect();
    await advance(0);
    peer(0).say('WELCOME s1 1000 3000');
    await advance(0);
    peer(0).destroy();
    await advance(0);
    expect(client.status).toBe('waiting');
    network.dispatchEvent(new Event('online'));
    await advance(0);
    expect(peers).toHaveLength(2);
    expect(client.status).toBe('connecting');
    // While connected, the event changes nothing; after close() it is not listened to.
    peer(1).say('WELCOME s2 1000 3000');
    await advance(0);
    network.dispatchEvent(new Event('online'));
    const closed = client.close();
    await advance(0);
    peer(1).destroy();
    await closed;
    network.dispatchEvent(new Event('online'));
    await advance(0);
    expect(peers).toHaveLength(2);
  });
});
