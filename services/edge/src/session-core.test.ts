import type { WriteOp, WriteResult } from '@presence/presence-store';
import { silentLogger } from '@presence/telemetry';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EdgeChannelStore } from './channel-ops.js';
import type { Connection, Transport } from './connection.js';
import type { EdgeStore } from './edge-store.js';
import { createEdgeMetrics } from './metrics.js';
import { SessionCore, type SessionCoreOptions } from './session-core.js';
import { TokenRejected, type TokenVerifier } from './token-verifier.js';

/** The session core without sockets: frames in through Connection.receive, frames out of a fake transport. */

const ADDRESS = '10.0.0.1';

/** Records what the core does to its transport. */
class FakeTransport implements Transport {
  /** Frames written, without their newline. */
  readonly sent: string[] = [];
  ended = false;
  destroyed = false;
  paused = false;
  unsentBytes = 0;
  token: string | null = null;

  write(frame: string | Buffer): void {
    this.sent.push(String(frame).replace(/\n$/, ''));
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  address(): string {
    return ADDRESS;
  }
  remote(): string {
    return `${ADDRESS}:40000`;
  }
}

/** Records every write; can fail whole calls (a Redis outage) or refuse a client's adds (the per-client limit). */
/** Holds calls while closed: each waits in `pass()` until `release()` (a partition: the bytes are held). */
class Gate {
  private held: (() => void)[] | null = null;

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const answer of held) answer();
  }

  async pass(): Promise<void> {
    if (this.held !== null) await new Promise<void>((resolve) => this.held?.push(resolve));
  }
}

class FakeStore implements EdgeStore {
  readonly calls: WriteOp[][] = [];
  readonly removedNodes: string[] = [];
  /** This many next execute calls fail every op. */
  failCalls = 0;
  /** The error those calls fail with: Redis answered with an error, or (`Connection is closed.`) could not be reached. */
  failWith = 'connection lost';
  /** While held, calls get no answer (a partition: the bytes are held) until `release()`. */
  private readonly gate = new Gate();
  readonly rejectClients = new Set<string>();
  /** Sessions Redis lost: every refresh names them missing until they are added again. */
  readonly lost = new Set<string>();
  readonly keys = { shardOf: (_clientId: string): number => 0 };

  hold(): void {
    this.gate.hold();
  }

  release(): void {
    this.gate.release();
  }

  async execute(ops: readonly WriteOp[]): Promise<WriteResult[]> {
    this.calls.push([...ops]);
    await this.gate.pass();
    const failing = this.failCalls > 0;
    if (failing) this.failCalls -= 1;
    return ops.map((op): WriteResult => {
      if (failing) {
        const error = new Error(this.failWith);
        return op.kind === 'refresh' ? { ok: false, kind: 'refresh', error, missing: [] } : { ok: false, kind: op.kind, error };
      }
      switch (op.kind) {
        case 'add':
          this.lost.delete(op.sessionId);
          return {
            ok: true,
            kind: 'add',
            now: 1,
            eventId: null,
            rejected: this.rejectClients.has(op.clientId) ? 'too_many_sessions' : null,
          };
        case 'remove':
          return { ok: true, kind: 'remove', now: 1, eventId: null, existed: true };
        case 'state':
          return { ok: true, kind: 'state', stored: true };
        case 'refresh':
          return { ok: true, kind: 'refresh', now: 1, missing: op.sessions.map((s) => s.sessionId).filter((id) => this.lost.has(id)) };
      }
    });
  }

  async nodeBeat(): Promise<void> {}

  async removeNode(node: string): Promise<void> {
    this.removedNodes.push(node);
  }

  adds(): (WriteOp & { kind: 'add' })[] {
    return this.calls.flat().filter((op): op is WriteOp & { kind: 'add' } => op.kind === 'add');
  }

  removes(): (WriteOp & { kind: 'remove' })[] {
    return this.calls.flat().filter((op): op is WriteOp & { kind: 'remove' } => op.kind === 'remove');
  }
}

const OPTIONS: SessionCoreOptions = {
  node: 'edge-test',
  heartbeatIntervalMs: 10_000,
  heartbeatTimeoutMs: 30_000,
  helloTimeoutMs: 5_000,
  heartbeatCheck: true,
  sessionTtlMs: 35_000,
  sessionRefreshMs: 5_000,
  logHeartbeats: false,
  drainWindowMs: 0,
  drainTimeoutMs: 1_000,
  offlineGraceMs: 0,
  maxFramesPerSecond: 50,
  maxSessionsPerClient: 16,
  maxStateBytes: 1024,
  maxChannelsPerSession: 3,
  channelWritesInFlight: 64,
};

const cores: SessionCore[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((core) => core.stop()));
});

/**
 * Channel membership in memory, as Redis would keep it: per channel, session -> client. Calls can be
 * held (answered on `release`) or failed, and are recorded in the order they reach it.
 */
class FakeChannelStore implements EdgeChannelStore {
  readonly calls: string[] = [];
  readonly members = new Map<string, Map<string, string>>();
  inFlight = 0;
  maxInFlight = 0;
  failNext = 0;
  private readonly gate = new Gate();

  hold(): void {
    this.gate.hold();
  }
  release(): void {
    this.gate.release();
  }
  private async enter(call: string): Promise<void> {
    this.calls.push(call);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await this.gate.pass();
    this.inFlight -= 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('redis said no');
    }
  }
  private occupancy(channel: string) {
    const sessions = this.members.get(channel) ?? new Map<string, string>();
    return { clients: new Set(sessions.values()).size, sessions: sessions.size };
  }
  async join(
    session: { sessionId: string; clientId: string },
    channel: string,
    _node: string,
    state: string | null,
    max: number,
    options: { rejoin?: boolean } = {},
  ) {
    await this.enter(`join ${channel}${state === null ? '' : ` ${state}`}${options.rejoin === true ? ' (rejoin)' : ''}`);
    const joined = [...this.members.values()].filter((m) => m.has(session.sessionId)).length;
    if (!this.members.get(channel)?.has(session.sessionId) && joined >= max) {
      return { status: 'too_many_channels' as const, occupancy: this.occupancy(channel), eventId: null };
    }
    const sessions = this.members.get(channel) ?? new Map<string, string>();
    sessions.set(session.sessionId, session.clientId);
    this.members.set(channel, sessions);
    return { status: 'joined' as const, occupancy: this.occupancy(channel), eventId: null };
  }
  async leave(session: { sessionId: string }, channel: string) {
    await this.enter(`leave ${channel}`);
    const existed = this.members.get(channel)?.delete(session.sessionId) ?? false;
    return { status: existed ? ('left' as const) : ('not_joined' as const), occupancy: this.occupancy(channel), eventId: null };
  }
  async setState(session: { sessionId: string }, channel: string, state: string) {
    await this.enter(`set ${channel} ${state}`);
    const joined = this.members.get(channel)?.has(session.sessionId) ?? false;
    return { status: joined ? ('set' as const) : ('not_joined' as const), occupancy: this.occupancy(channel), eventId: null };
  }
}

function setup(options: Partial<SessionCoreOptions> = {}, verifyToken: TokenVerifier | null = null) {
  let now = 1_000;
  const store = new FakeStore();
  const channels = new FakeChannelStore();
  const registry = new Registry();
  const core = new SessionCore({
    store,
    channels,
    logger: silentLogger(),
    metrics: createEdgeMetrics(registry),
    options: { ...OPTIONS, ...options },
    verifyToken,
    now: () => now,
  });
  cores.push(core);
  /** A new connection; `say` hands it frames the way a transport does, stopping when it takes no more. */
  const open = (address: string | null = null) => {
    const transport = new FakeTransport();
    const conn = core.connect(transport, address);
    const say = (...frames: string[]) => {
      for (const frame of frames) if (!conn.receive(Buffer.from(frame))) return;
    };
    return { conn, transport, say };
  };
  /** A connection that said HELLO, and its session id. */
  const session = (clientId: string, address: string | null = null) => {
    const client = open(address);
    client.say(`HELLO ${clientId}`);
    const sessionId = /^WELCOME ([0-9a-f]{20}) /.exec(client.transport.sent[0] ?? '')?.[1];
    if (sessionId === undefined) throw new Error(`no WELCOME: ${client.transport.sent.join(' | ')}`);
    return { ...client, sessionId };
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { core, store, channels, registry, open, session, advance };
}

/** A token check that the test settles. */
function deferredVerifier() {
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const verify: TokenVerifier = () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  return { verify, pending };
}

describe('a session, frames in and frames out', () => {
  it(
    'HELLO gets WELCOME with a session id and the heartbeat timing; ' + 'every PING its PONG, in order; the state goes to the store',
    async () => {
      const { store, open } = setup();
      const { transport, say } = open();
      say('HELLO alice', 'PING', 'PING {"battery":87}', '', 'PING');
      expect(transport.sent).toEqual([expect.stringMatching(/^WELCOME [0-9a-f]{20} 10000 30000$/), 'PONG', 'PONG', 'PONG']);
      const sessionId = transport.sent[0]?.split(' ')[1];
      await vi.waitFor(() =>
        expect(store.adds()).toMatchObject([{ sessionId, clientId: 'alice', node: 'edge-test', stateJson: '{"battery":87}' }]),
      );
    },
  );

  it('BYE ends the session as leave and closes gracefully; the connection counts until its transport is gone', async () => {
    const { core, store, session } = setup();
    const { conn, transport, say, sessionId } = session('bob');
    say('BYE', 'PING');
    expect(transport.sent).toHaveLength(1);
    expect([transport.ended, transport.destroyed, conn.state]).toEqual([true, false, 'closing']);
    expect([core.sessionCount, core.connectionCount]).toEqual([0, 1]);
    await vi.waitFor(() => expect(store.removes()).toMatchObject([{ sessionId, reason: 'leave' }]));
    conn.close('transport_closed');
    expect([conn.state, core.connectionCount]).toEqual(['closed', 0]);
  });

  it('a first frame other than HELLO gets ERR hello_required (empty frames are fine); nothing after it is handled', () => {
    const { open } = setup();
    const { transport, say } = open();
    say('', 'PING', 'HELLO carol');
    expect(transport.sent).toEqual(['ERR hello_required the first frame must be HELLO <clientId> [<token>]']);
    expect(transport.ended).toBe(true);
  });

  it('a second HELLO and an unknown verb get ERR bad_frame; the session ends as closed', async () => {
    const { store, session } = setup();
    const first = session('dave');
    first.say('HELLO dave');
    expect(first.transport.sent.at(-1)).toBe('ERR bad_frame HELLO was already received on this connection');
    const second = session('erin');
    second.say('NOPE');
    expect(second.transport.sent.at(-1)).toBe('ERR bad_frame unknown command "NOPE"');
    await vi.waitFor(() =>
      expect(store.removes().map((op) => [op.sessionId, op.reason])).toEqual([
        [first.sessionId, 'closed'],
        [second.sessionId, 'closed'],
      ]),
    );
  });

  it('more than MAX_FRAMES_PER_SECOND frames in a second get ERR rate_limited after the frames within the limit', () => {
    const { open, advance } = setup({ maxFramesPerSecond: 5 });
    const fast = open();
    fast.say('HELLO frank', 'PING', 'PING', 'PING', 'PING', 'PING');
    expect(fast.transport.sent.slice(1)).toEqual(['PONG', 'PONG', 'PONG', 'PONG', 'ERR rate_limited at most 5 frames per second']);

    const paced = open();
    paced.say('HELLO grace', 'PING', 'PING', 'PING', 'PING');
    advance(1_000);
    paced.say('PING', 'PING', 'PING', 'PING', 'PING');
    expect(paced.transport.sent.slice(1)).toEqual(Array(9).fill('PONG'));
  });
});

describe('HELLO with a token', () => {
  it(
    'frames pipelined behind HELLO wait for the token check (the transport paused), ' + 'then are answered after WELCOME, in order',
    async () => {
      const { verify, pending } = deferredVerifier();
      const { open } = setup({}, verify);
      const { conn, transport, say } = open();
      say('HELLO heidi t0k3n', 'PING', 'PING {"a":1}', '');
      expect([transport.sent, transport.paused, conn.state]).toEqual([[], true, 'authenticating']);
      pending[0]?.resolve();
      await vi.waitFor(() => expect(transport.sent).toEqual([expect.stringMatching(/^WELCOME /), 'PONG', 'PONG']));
      expect([transport.paused, conn.state, conn.held]).toEqual([false, 'live', null]);
    },
  );

  it('a refused token gets ERR unauthorized with its reason; the held frames are never answered and no session is written', async () => {
    const { verify, pending } = deferredVerifier();
    const { store, open } = setup({}, verify);
    const refused = open();
    refused.say('HELLO ivan t0k3n', 'PING');
    pending[0]?.reject(new TokenRejected('token expired'));
    await vi.waitFor(() => expect(refused.transport.sent).toEqual(['ERR unauthorized token expired']));
    // Sentinel: an accepted session's add is written; the refused one's never was.
    const accepted = open();
    accepted.say('HELLO judy t0k3n');
    pending[1]?.resolve();
    await vi.waitFor(() => expect(store.adds().map((op) => op.clientId)).toEqual(['judy']));
  });

  it("a transport's token (WebSocket ?token=) is checked when HELLO has none; a token in HELLO wins", async () => {
    const checked: (string | null)[] = [];
    const verify: TokenVerifier = (token) => {
      checked.push(token);
      return Promise.resolve();
    };
    const { open } = setup({}, verify);
    const fromUrl = open();
    fromUrl.transport.token = 'url-t0k3n';
    fromUrl.say('HELLO lea');
    const both = open();
    both.transport.token = 'url-t0k3n';
    both.say('HELLO mia hello-t0k3n');
    await vi.waitFor(() => expect(both.transport.sent).toEqual([expect.stringMatching(/^WELCOME /)]));
    expect(checked).toEqual(['url-t0k3n', 'hello-t0k3n']);
  });

  it('a token check that fails for another reason is ERR unauthorized too, without the details', async () => {
    const { verify, pending } = deferredVerifier();
    const { open } = setup({}, verify);
    const { transport, say } = open();
    say('HELLO ken t0k3n');
    pending[0]?.reject(new Error('JWKS file vanished'));
    await vi.waitFor(() => expect(transport.sent).toEqual(['ERR unauthorized token could not be checked']));
  });

  it('more than 32 frames behind HELLO get ERR rate_limited at once; a later good token changes nothing', async () => {
    const { verify, pending } = deferredVerifier();
    const { core, open } = setup({}, verify);
    const { conn, transport, say } = open();
    say('HELLO leo t0k3n', ...Array<string>(33).fill('PING'));
    expect(transport.sent).toEqual(['ERR rate_limited too many frames before WELCOME']);
    expect(conn.held).toBe(null);
    pending[0]?.resolve();
    await new Promise(setImmediate);
    expect([transport.sent.length, core.sessionCount]).toEqual([1, 0]);
  });
});

describe('timeouts, on the injected clock', () => {
  it('no HELLO within HELLO_TIMEOUT_MS: ERR hello_timeout', () => {
    const { core, open, advance } = setup();
    const { transport } = open();
    advance(4_999);
    core.scan();
    expect(transport.sent).toEqual([]);
    advance(1);
    core.scan();
    expect(transport.sent).toEqual(['ERR hello_timeout no HELLO within 5000 ms']);
  });

  it('silent for the heartbeat timeout: BYE timeout and the session ends as timeout; any frame, even an empty one, counts', async () => {
    const { core, store, session, advance } = setup();
    const { transport, say, sessionId } = session('mallory');
    advance(29_000);
    say('');
    advance(29_999);
    core.scan();
    expect(transport.sent).toHaveLength(1);
    advance(1);
    core.scan();
    expect(transport.sent.slice(1)).toEqual(['BYE timeout']);
    expect(transport.ended).toBe(true);
    await vi.waitFor(() => expect(store.removes()).toMatchObject([{ sessionId, reason: 'timeout' }]));
  });

  it('with the heartbeat check off a silent session stays', () => {
    const { core, session, advance } = setup({ heartbeatCheck: false });
    const { transport } = session('niaj');
    advance(3_600_000);
    core.scan();
    expect([transport.sent.length, core.sessionCount]).toEqual([1, 1]);
  });
});

describe('drain', () => {
  it(
    'spreads BYE shutdown over the drain window, ' + 'cuts off connections without a session, writes the ends and leaves the stats',
    async () => {
      const { core, store, open, session } = setup({ drainWindowMs: 100 });
      const live = ['olivia', 'peggy', 'quentin', 'rupert'].map((clientId) => session(clientId));
      const waiting = open();
      const stopping = core.stop();
      // Two ticks of 50 ms: the first half at once, the rest one tick later.
      expect(live.map((s) => s.transport.sent.at(-1))).toEqual([
        'BYE shutdown',
        'BYE shutdown',
        expect.stringMatching(/^WELCOME/),
        expect.stringMatching(/^WELCOME/),
      ]);
      expect([waiting.transport.sent, waiting.transport.destroyed]).toEqual([[], true]);
      await stopping;
      expect(live.map((s) => s.transport.sent.at(-1))).toEqual(Array(4).fill('BYE shutdown'));
      expect(store.removes().map((op) => [op.sessionId, op.reason])).toEqual(live.map((s) => [s.sessionId, 'shutdown']));
      expect(store.removedNodes).toEqual(['edge-test']);
      expect([core.connectionCount, core.sessionCount]).toEqual([0, 0]);
      expect(live.every((s) => s.transport.destroyed)).toBe(true);
    },
  );
});

describe('the link to Redis, and moving clients when the node is cut off', () => {
  it('knows when Redis last answered every write, and when the oldest unanswered one went out', async () => {
    const { core, store, session } = setup();
    expect(core.redisLink()).toEqual({ unansweredSince: null, refreshedAt: null, everAnswered: false });
    core.start();
    session('alice');
    await vi.waitFor(() => expect(core.redisLink().everAnswered).toBe(true));
    const answered = core.redisLink();
    expect(answered.unansweredSince).toBeNull();
    expect(answered.refreshedAt).toEqual(expect.any(Number));

    store.hold();
    const before = performance.now();
    session('bob');
    await vi.waitFor(() => expect(core.redisLink().unansweredSince).not.toBeNull());
    expect(core.redisLink().unansweredSince).toBeGreaterThanOrEqual(before);
    store.release();
    await vi.waitFor(() => expect(core.redisLink().unansweredSince).toBeNull());
  });

  it('counts an error reply as an answer, and a Redis out of reach as none', async () => {
    const { core, store, session } = setup();
    store.failCalls = 1;
    session('carol');
    await vi.waitFor(() => expect(store.adds()).toHaveLength(2));
    expect(core.redisLink()).toMatchObject({ everAnswered: true, unansweredSince: null });

    const unreachable = setup();
    unreachable.store.failCalls = 1_000;
    unreachable.store.failWith = 'Connection is closed.';
    unreachable.session('dave');
    await vi.waitFor(() => expect(unreachable.store.calls.length).toBeGreaterThan(1));
    expect(unreachable.core.redisLink()).toMatchObject({ everAnswered: false, unansweredSince: expect.any(Number) });
    // Nothing ever reached Redis: shutting down does not wait DRAIN_TIMEOUT_MS for it.
    const stopping = performance.now();
    await unreachable.core.stop();
    expect(performance.now() - stopping).toBeLessThan(OPTIONS.drainTimeoutMs);
  });

  it('sends the session ends Redis acknowledged lately again after a reconnection, as they were', async () => {
    const { core, store, session } = setup();
    const ivan = session('ivan');
    await vi.waitFor(() => expect(store.adds()).toHaveLength(1));
    ivan.say('BYE');
    await vi.waitFor(() => expect(store.removes()).toHaveLength(1));
    await vi.waitFor(() => expect(core.redisLink().unansweredSince).toBeNull());
    // A failover to a replica that had not received it would have lost it: the new master gets it again.
    core.redisReady();
    await vi.waitFor(() => expect(store.removes()).toHaveLength(2));
    const [first, again] = store.removes();
    expect(again).toEqual(first);
    expect(again).toMatchObject({ sessionId: ivan.sessionId, clientId: 'ivan', reason: 'leave' });
  });

  it(
    'moves every client with BYE moved over the window, ' + 'refuses those still saying HELLO, and writes the ends once Redis answers',
    async () => {
      const { core, store, open, session } = setup();
      const live = ['erin', 'frank', 'grace', 'heidi'].map((clientId) => session(clientId));
      await vi.waitFor(() => expect(store.adds()).toHaveLength(4));
      store.hold();
      const waiting = open();
      const moving = core.moveSessions(100);
      expect(live.map((s) => s.transport.sent.at(-1))).toEqual([
        'BYE moved',
        'BYE moved',
        expect.stringMatching(/^WELCOME/),
        expect.stringMatching(/^WELCOME/),
      ]);
      expect(waiting.transport.sent).toEqual(['ERR server_busy this node cannot reach Redis; connect to another node']);
      await moving;
      expect(live.map((s) => s.transport.sent.at(-1))).toEqual(Array(4).fill('BYE moved'));
      expect(core.sessionCount).toBe(0);
      // The ends are sent as any session's end as `shutdown` (debounced by the grace), and wait for an answer.
      expect(core.redisLink().unansweredSince).not.toBeNull();
      store.release();
      await vi.waitFor(() =>
        expect(store.removes().map((op) => [op.sessionId, op.reason])).toEqual(live.map((s) => [s.sessionId, 'shutdown'])),
      );
      await vi.waitFor(() => expect(core.redisLink().unansweredSince).toBeNull());
      expect(store.adds()).toHaveLength(4);
    },
  );
});

describe('limits and failures', () => {
  it('Redis refusing a session over MAX_SESSIONS_PER_CLIENT: WELCOME, then ERR too_many_sessions and the close', async () => {
    const { store, session } = setup({ maxSessionsPerClient: 2 });
    store.rejectClients.add('sybil');
    const { conn, transport } = session('sybil');
    await vi.waitFor(() => expect(transport.sent.at(-1)).toBe('ERR too_many_sessions at most 2 sessions per clientId'));
    expect(conn.state).toBe('closing');
  });

  it('a write Redis failed is retried until it succeeds', async () => {
    const { store, session } = setup();
    store.failCalls = 2;
    const { sessionId } = session('trent');
    await vi.waitFor(() => expect(store.calls).toHaveLength(3), { timeout: 2_000 });
    expect(store.adds().map((op) => op.sessionId)).toEqual([sessionId, sessionId, sessionId]);
  });

  it('a client that does not read is dropped past 64 KiB unsent, without an ERR; its session ends as closed', async () => {
    const { core, store, session } = setup();
    const { conn, transport, say, sessionId } = session('ursula');
    transport.unsentBytes = 64 * 1024;
    say('PING');
    expect(conn.state).toBe('live');
    transport.unsentBytes += 1;
    say('PING', 'PING');
    expect(transport.sent).toEqual([expect.stringMatching(/^WELCOME/), 'PONG', 'PONG']);
    expect([transport.destroyed, conn.state, core.connectionCount]).toEqual([true, 'closed', 0]);
    await vi.waitFor(() => expect(store.removes()).toMatchObject([{ sessionId, reason: 'closed' }]));
  });

  it('an internal error is ERR internal_error, not bad_frame, on HELLO and after a token check alike', async () => {
    const { store, open } = setup();
    store.keys.shardOf = () => {
      throw new Error('bug');
    };
    const plain = open();
    plain.say('HELLO victor', 'PING');
    expect(plain.transport.sent).toEqual(['ERR internal_error internal error']);

    const { verify, pending } = deferredVerifier();
    const withToken = setup({}, verify);
    withToken.store.keys.shardOf = store.keys.shardOf;
    const checked = withToken.open();
    checked.say('HELLO walter t0k3n', 'PING');
    pending[0]?.resolve();
    await vi.waitFor(() => expect(checked.transport.sent).toEqual(['ERR internal_error internal error']));
  });
});

describe('close: every path ends a connection once and releases everything', () => {
  type Harness = ReturnType<typeof setup>;
  type Client = ReturnType<Harness['session']>;
  const paths: [string, (client: Client, harness: Harness, other: Client) => void | Promise<void>, string][] = [
    ['BYE', (c) => c.say('BYE'), 'leave'],
    ['a protocol error', (c) => c.say('PING [1]'), 'closed'],
    [
      'the heartbeat timeout',
      (_c, h, other) => {
        h.advance(20_000);
        other.say('');
        h.advance(10_000);
        h.core.scan();
      },
      'timeout',
    ],
    ["the peer's FIN", (c) => c.conn.close('peer_ended'), 'closed'],
    ['a slow reader', (c) => ((c.transport.unsentBytes = 1e6), c.say('PING')), 'closed'],
    ['the transport closing under it', (c) => c.conn.close('transport_closed'), 'closed'],
    [
      'too many sessions',
      async (c, h) => {
        h.store.rejectClients.add('xavier');
        await vi.waitFor(() => expect(c.transport.ended).toBe(true));
      },
      'closed',
    ],
  ];

  it.each(paths)('%s', async (_name, end, reason) => {
    const harness = setup();
    const { core, store, session } = harness;
    const client = session('xavier', ADDRESS);
    const other = session('yvonne', ADDRESS);
    expect(core.connectionsFrom(ADDRESS)).toBe(2);
    await end(client, harness, other);
    // Whatever the path, the transport then reports it gone, maybe more than once, maybe its FIN too.
    client.conn.close('peer_ended');
    client.conn.close('transport_closed');
    client.conn.close('transport_closed');
    client.conn.close('dropped');
    expect(client.conn.state).toBe('closed');
    expect([core.connectionCount, core.connectionsFrom(ADDRESS), core.sessionCount]).toEqual([1, 1, 1]);
    expect([client.conn.trackedBy, client.conn.held]).toEqual([null, null]);
    // At most one farewell, and it is the last frame.
    const farewells = client.transport.sent.filter((frame) => /^(ERR|BYE) /.test(frame));
    expect(farewells.length).toBeLessThanOrEqual(1);
    if (farewells.length === 1) expect(client.transport.sent.at(-1)).toBe(farewells[0]);
    // Sentinel: once the other session's end is written, the first one's has been written exactly once.
    other.say('BYE');
    await vi.waitFor(() => expect(store.removes().map((op) => op.sessionId)).toContain(other.sessionId));
    expect(store.removes().filter((op) => op.sessionId === client.sessionId)).toMatchObject([{ reason }]);
    other.conn.close('transport_closed');
    expect([core.connectionCount, core.connectionsFrom(ADDRESS)]).toEqual([0, 0]);
  });

  it('the drain closes every connection once', async () => {
    const { core, store, session } = setup();
    const client = session('zed', ADDRESS);
    await core.stop();
    client.conn.close('transport_closed');
    expect([core.connectionCount, core.connectionsFrom(ADDRESS), client.conn.trackedBy]).toEqual([0, 0, null]);
    expect(client.transport.sent.filter((frame) => frame === 'BYE shutdown')).toHaveLength(1);
    expect(store.removes()).toMatchObject([{ sessionId: client.sessionId, reason: 'shutdown' }]);
  });

  it('a connection that is closed takes no more frames', () => {
    const { session } = setup();
    const client: { conn: Connection; transport: FakeTransport } = session('amy');
    client.conn.close('peer_ended');
    expect(client.conn.receive(Buffer.from('PING'))).toBe(false);
    expect(client.transport.sent).toHaveLength(1);
  });
});

describe('channel requests', () => {
  /** Frames after WELCOME. */
  const replies = (transport: FakeTransport) => transport.sent.slice(1);

  it('JOIN pipelined behind HELLO waits for the session to be registered, then each request is answered in order', async () => {
    const { store, channels, open } = setup();
    store.hold();
    const { transport, say } = open();
    say('HELLO alice', 'JOIN room:1 {"role":"host"}', 'SET room:1 {"role":"guest"}', 'JOIN room:2', 'LEAVE room:1', 'PING');
    expect(replies(transport)).toEqual(['PONG']);
    expect(channels.calls).toEqual([]);
    store.release();
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(5));
    expect(replies(transport)).toEqual(['PONG', 'JOINED room:1 1 1', 'UPDATED room:1 1 1', 'JOINED room:2 1 1', 'LEFT room:1 0 0']);
    expect(channels.calls).toEqual(['join room:1 {"role":"host"}', 'set room:1 {"role":"guest"}', 'join room:2', 'leave room:1']);
  });

  it('answers a bad request with NACK and keeps the session: bad channel, bad state, bad frame, not joined, too many', async () => {
    const { channels, registry, session } = setup({ maxStateBytes: 32 });
    const { transport, say, conn } = session('bob');
    say(
      'JOIN a{b}',
      'JOIN ok {"x":',
      `JOIN ok {"long":"${'x'.repeat(40)}"}`,
      'LEAVE',
      'SET room:1 {}',
      'JOIN c1',
      'JOIN c2',
      'JOIN c3',
      'JOIN c4',
    );
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(9));
    expect(replies(transport).map((frame) => frame.split(' ').slice(0, 3).join(' '))).toEqual([
      'NACK a{b} bad_channel',
      'NACK ok bad_state',
      'NACK ok bad_state',
      'NACK - bad_frame',
      'NACK room:1 not_joined',
      'JOINED c1 1',
      'JOINED c2 1',
      'JOINED c3 1',
      'NACK c4 too_many_channels',
    ]);
    expect(channels.calls).toEqual(['set room:1 {}', 'join c1', 'join c2', 'join c3', 'join c4']);
    const counted = await registry.getSingleMetricAsString('presence_edge_channel_requests_total');
    expect(counted).toContain('{kind="join",result="joined"} 3');
    expect(counted).toContain('{kind="join",result="too_many_channels"} 1');
    expect(counted).toContain('{kind="malformed",result="bad_state"} 2');
    expect(counted).toContain('{kind="set",result="not_joined"} 1');
    say('PING');
    expect(transport.sent.at(-1)).toBe('PONG');
    expect(conn.state).toBe('live');
  });

  it('joins its channels again, silently, with their latest states, when Redis lost the session and it is registered again', async () => {
    const { core, store, channels, registry, session } = setup({ sessionRefreshMs: 20 });
    const { transport, say, sessionId } = session('erin');
    say('JOIN room:1 {"v":1}', 'JOIN room:2', 'JOIN room:3', 'SET room:1 {"v":2}', 'LEAVE room:3', 'JOIN room:2');
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(6));
    // Redis restarts empty: the memberships are gone, and the next refresh finds the session missing.
    channels.members.clear();
    channels.calls.length = 0;
    store.lost.add(sessionId);
    core.start();
    await vi.waitFor(() => expect(channels.calls).toEqual(['join room:1 {"v":2} (rejoin)', 'join room:2 (rejoin)']));
    await vi.waitFor(() => expect(channels.members.get('room:2')?.has(sessionId)).toBe(true));
    expect(store.adds().filter((op) => op.sessionId === sessionId)).toHaveLength(2);
    // Nothing to tell the client: for it, nothing happened.
    expect(replies(transport)).toHaveLength(6);
    expect(await registry.getSingleMetricAsString('presence_edge_channel_requests_total')).toContain('{kind="rejoin",result="joined"} 2');

    // Lost again, and this time Redis fails the rejoin of room:1: the client hears it lost room:1.
    channels.members.clear();
    channels.calls.length = 0;
    channels.failNext = 1;
    store.lost.add(sessionId);
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(7));
    expect(transport.sent.at(-1)).toMatch(/^NACK room:1 unavailable /);
    await vi.waitFor(() => expect(channels.members.get('room:2')?.has(sessionId)).toBe(true));
    // A third loss rejoins room:2 only.
    channels.calls.length = 0;
    store.lost.add(sessionId);
    await vi.waitFor(() => expect(channels.calls).toEqual(['join room:2 (rejoin)']));
  });

  it('a Redis failure NACKs that request as unavailable; the next one goes through', async () => {
    const { channels, session } = setup();
    const { transport, say } = session('carol');
    channels.failNext = 1;
    say('JOIN r1', 'JOIN r1');
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(2));
    expect(replies(transport)).toEqual([expect.stringMatching(/^NACK r1 unavailable /), 'JOINED r1 1 1']);
  });

  it('with a channels claim, JOIN elsewhere is forbidden before Redis is asked; names and prefix* patterns', async () => {
    const verify: TokenVerifier = async () => ({ channels: ['lobby', 'team:7:*'] });
    const { channels, open } = setup({}, verify);
    const { transport, say } = open();
    say('HELLO dave token', 'JOIN lobby', 'JOIN team:7:chat', 'JOIN team:8:chat', 'JOIN lobby2');
    await vi.waitFor(() => expect(replies(transport)).toHaveLength(4));
    expect(replies(transport).map((frame) => frame.split(' ').slice(0, 3).join(' '))).toEqual([
      'JOINED lobby 1',
      'JOINED team:7:chat 1',
      'NACK team:8:chat forbidden',
      'NACK lobby2 forbidden',
    ]);
    expect(channels.calls).toEqual(['join lobby', 'join team:7:chat']);
  });

  it('keeps at most CHANNEL_WRITES_IN_FLIGHT requests of the node in Redis, and refuses beyond 64x that waiting', async () => {
    const { channels, session } = setup({ channelWritesInFlight: 2, maxFramesPerSecond: 1_000 });
    const clients = Array.from({ length: 5 }, (_, i) => session(`user${i}`));
    await vi.waitFor(() => expect(clients.every((c) => c.conn.session?.registered)).toBe(true));
    channels.hold();
    for (const client of clients) for (let i = 0; i < 26; i += 1) client.say(`SET x${i} {}`);
    // 130 requests: 2 in flight, 128 (64 x 2) waiting, 2 refused at once.
    expect(channels.inFlight).toBe(2);
    const overloaded = clients.flatMap((c) => replies(c.transport)).filter((frame) => frame.includes(' overloaded '));
    expect(overloaded).toHaveLength(130 - 2 - 128);
    channels.release();
    await vi.waitFor(() => expect(channels.calls).toHaveLength(130 - overloaded.length), { timeout: 5_000 });
    channels.release();
    expect(channels.maxInFlight).toBeLessThanOrEqual(2);
  });

  it('a session that ends drops its waiting requests: they never reach Redis', async () => {
    const { channels, session } = setup();
    const { say, conn } = session('erin');
    await vi.waitFor(() => expect(conn.session?.registered).toBe(true));
    channels.hold();
    say('JOIN r1', 'JOIN r2', 'JOIN r3', 'BYE');
    expect(channels.calls).toEqual(['join r1']);
    channels.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(channels.calls).toEqual(['join r1']);
  });
});
