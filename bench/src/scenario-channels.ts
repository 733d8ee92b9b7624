import { connect, type Socket } from 'node:net';
import { ChannelStore, KeySpace, PresenceStore } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs, sleep, waitUntil } from './clock.js';
import { OurStack, SHARDS, type RunContext, type ScenarioRun } from './context.js';
import { IpcWorker } from './ipc-worker.js';
import { freePort, startScript } from './processes.js';
import { commandDelta, commandStats, slowCalls, usedMemory } from './redis-stats.js';
import { seedSessions } from './seed-sessions.js';
import type { SocketIoClientCommand, SocketIoOpenResult, SocketIoPacedResult } from './socketio-client-worker.js';
import { distribution } from './stats.js';

const SESSION_REFRESH_MS = 1_000;
const SESSION_TTL_MS = 3_000;

/** A raw wire client: HELLO, then JOINs and LEAVEs; counts the answers (JOINED/LEFT/NACK) with their arrival time. */
class WireSession {
  readonly socket: Socket;
  private buffer = '';
  welcome: Promise<void>;
  /** Sent time of each JOIN or LEAVE not answered yet, in order (answers come in order). */
  readonly pending: number[] = [];
  readonly latencies: number[] = [];
  nacks = 0;

  constructor(port: number, clientId: string) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('utf8');
    this.socket.on('error', () => {});
    this.welcome = new Promise((resolve) => {
      this.socket.on('data', (chunk: string) => {
        this.buffer += chunk;
        let newline = this.buffer.indexOf('\n');
        while (newline !== -1) {
          const line = this.buffer.slice(0, newline);
          this.buffer = this.buffer.slice(newline + 1);
          if (line.startsWith('WELCOME ')) resolve();
          else if (line.startsWith('JOINED ') || line.startsWith('LEFT ') || line.startsWith('NACK ')) {
            const sent = this.pending.shift();
            if (sent !== undefined) this.latencies.push(monoMs() - sent);
            if (line.startsWith('NACK ')) this.nacks += 1;
          }
          newline = this.buffer.indexOf('\n');
        }
      });
    });
    this.socket.write(`HELLO ${clientId}\n`);
  }

  join(channel: string): void {
    this.pending.push(monoMs());
    this.socket.write(`JOIN ${channel}\n`);
  }

  leave(channel: string): void {
    this.pending.push(monoMs());
    this.socket.write(`LEAVE ${channel}\n`);
  }

  ping(): void {
    this.socket.write('PING\n');
  }
}

async function openSessions(port: number, prefix: string, count: number): Promise<WireSession[]> {
  const sessions: WireSession[] = [];
  for (let i = 0; i < count; i += 1) {
    sessions.push(new WireSession(port, `${prefix}${i}`));
    // A few hundred connects in flight at a time: the edge's accept queue stays short.
    if (i % 500 === 499) await Promise.all(sessions.slice(-500).map((s) => s.welcome));
  }
  await Promise.all(sessions.map((s) => s.welcome));
  return sessions;
}

/** Timed HTTP requests, one after another, each until its body is read; latencies in ms. `check` sees each body, untimed. */
async function timeRequests(count: number, request: () => Promise<Response>, check?: (body: ArrayBuffer) => void): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const started = monoMs();
    const res = await request();
    const body = await res.arrayBuffer();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    latencies.push(monoMs() - started);
    check?.(body);
  }
  return latencies;
}

interface SocketIoSizes {
  /** Sockets in the big room, half on each node. */
  members: number;
  /** Sequential fetchSockets() requests timed. */
  requests: number;
  /** Sockets (on node A) that join and leave at `rate` per second for `seconds`. */
  rateSockets: number;
  rate: number;
  seconds: number;
}

type AdapterSent = { commands: Record<string, number>; publishBytes: number };

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** What both nodes' adapters sent to Redis (commands, PUBLISH payload bytes). */
async function adapterSent(ports: number[]): Promise<{ commands: number; publishBytes: number }> {
  const all = await Promise.all(ports.map((port) => getJson<AdapterSent>(`http://127.0.0.1:${port}/redis`)));
  return {
    commands: all.reduce((sum, s) => sum + Object.values(s.commands).reduce((a, b) => a + b, 0), 0),
    publishBytes: all.reduce((sum, s) => sum + s.publishBytes, 0),
  };
}

/**
 * The baseline Socket.IO users build: two Socket.IO server processes with @socket.io/redis-adapter
 * on the given Redis (socketio-server.ts), socket.io-client sockets held by one worker process per
 * node. Rooms are joined and left by client emits with an ack (the joins/s test of our edge, same
 * rate and room names); "who is in the room" is `io.in('big').fetchSockets()` on node A over HTTP,
 * timed one request after another like our members page.
 */
async function socketIoBaseline(
  ctx: RunContext,
  redisUrl: string,
  sizes: SocketIoSizes,
  metrics: Record<string, number>,
  notes: string[],
): Promise<void> {
  const ports = [await freePort(), await freePort()];
  const [portA] = ports as [number, number];
  const servers = await Promise.all(
    ports.map((port, i) =>
      startScript(
        ctx.work,
        'socketio-server.js',
        `${ctx.scenario}-run${ctx.run}-socketio${i}`,
        [String(port), redisUrl, `bench${ctx.run}sio`],
        port,
      ),
    ),
  );
  const workers = ports.map((_, i) => new IpcWorker<SocketIoClientCommand>('socketio-client-worker.js', `socketio-clients${i}`));
  try {
    const perNode = Math.ceil(sizes.members / ports.length);
    const connectStarted = monoMs();
    const opened = await ctx.progress.bar(`Socket.IO: connect ${perNode * ports.length} sockets, 2 nodes`, 1, () =>
      Promise.all(
        workers.map((w, i) =>
          w.call<SocketIoOpenResult>({ cmd: 'open', url: `http://127.0.0.1:${ports[i] as number}`, count: perNode, concurrency: 50 }),
        ),
      ),
    );
    const connected = opened.reduce((sum, r) => sum + r.connected, 0);
    metrics['sio.sockets'] = connected;
    metrics['sio.connectRate'] = connected / ((monoMs() - connectStarted) / 1_000);
    for (const r of opened) if (r.failed > 0) notes.push(`Socket.IO: ${r.failed} sockets failed to connect (${r.errors.join(', ')})`);

    // Joins, then leaves, at our rate, on node A (what each sends to Redis counted by the adapters' clients).
    const [workerA] = workers as [IpcWorker<SocketIoClientCommand>, IpcWorker<SocketIoClientCommand>];
    for (const kind of ['join', 'leave'] as const) {
      const before = await adapterSent(ports);
      const result = await ctx.progress.bar(`Socket.IO: ${sizes.rate} ${kind}s/s for ${sizes.seconds} s, node A`, 1, () =>
        workerA.call<SocketIoPacedResult>({
          cmd: 'paced',
          event: kind,
          sockets: sizes.rateSockets,
          rate: sizes.rate,
          seconds: sizes.seconds,
        }),
      );
      const after = await adapterSent(ports);
      const dist = distribution(result.latencies);
      metrics[`sio.${kind}.rate`] = result.latencies.length / result.elapsedSeconds;
      metrics[`sio.${kind}.p50Ms`] = dist.p50;
      metrics[`sio.${kind}.p99Ms`] = dist.p99;
      metrics[`sio.${kind}.failed`] = result.failed;
      metrics[`sio.${kind}.commandsPerOp`] = (after.commands - before.commands) / result.latencies.length;
    }

    // Every socket joins the big room; each node must hold its half before fetchSockets is timed.
    const acked = await ctx.progress.bar(`Socket.IO: ${connected} sockets join 'big'`, 1, () =>
      Promise.all(workers.map((w) => w.call<number>({ cmd: 'joinAll', room: 'big', concurrency: 200 }))),
    );
    const local = await Promise.all(ports.map((port) => getJson<{ count: number }>(`http://127.0.0.1:${port}/local?room=big`)));
    metrics['sio.members'] = local.reduce((sum, l) => sum + l.count, 0);
    if (acked.reduce((a, b) => a + b, 0) !== connected)
      notes.push(`Socket.IO: ${acked.join(' + ')} joins of 'big' acknowledged of ${connected}`);

    let incomplete = 0;
    const url = `http://127.0.0.1:${portA}/fetch-sockets?room=big`;
    const fetchBefore = await adapterSent(ports);
    const latencies = await ctx.progress.bar(`Socket.IO: fetchSockets() x ${sizes.requests}`, 1, () =>
      timeRequests(
        sizes.requests,
        () => fetch(url),
        (body) => {
          if ((JSON.parse(Buffer.from(body).toString()) as { count: number }).count !== metrics['sio.members']) incomplete += 1;
        },
      ),
    );
    const fetchAfter = await adapterSent(ports);
    const fetchDist = distribution(latencies);
    metrics['sio.fetch.p50Ms'] = fetchDist.p50;
    metrics['sio.fetch.p99Ms'] = fetchDist.p99;
    metrics['sio.fetch.incomplete'] = incomplete;
    metrics['sio.fetch.commands'] = (fetchAfter.commands - fetchBefore.commands) / sizes.requests;
    metrics['sio.fetch.publishBytes'] = (fetchAfter.publishBytes - fetchBefore.publishBytes) / sizes.requests;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  }
}

/**
 * Channels: joins then leaves through a real edge at a fixed rate (latency of the answer, Redis
 * commands per join and per leave), the first page of a 10,000-member channel and the occupancy of
 * 1000 channels over HTTP, Redis memory per membership, the Socket.IO baseline (the same room size
 * and rate, fetchSockets() across two nodes), and an edge SIGKILL with N sessions x 10 channels
 * (time until every leave is written, longest Redis call meanwhile).
 */
export async function runChannels(ctx: RunContext): Promise<ScenarioRun> {
  const quick = ctx.options.quick;
  const metrics: Record<string, number> = {};
  const notes: string[] = [];
  const timing = { SESSION_REFRESH_MS: String(SESSION_REFRESH_MS), SESSION_TTL_MS: String(SESSION_TTL_MS), OFFLINE_GRACE_MS: '0' };
  const stack = await OurStack.start(ctx, timing);
  const client = new Redis(stack.redis.url);
  const opened: WireSession[] = [];
  try {
    const keys = new KeySpace(stack.prefix, SHARDS);
    const store = new PresenceStore(client, { keys, eventsMaxLen: 100_000, lastSeenTtlMs: 3_600_000 });
    const channels = new ChannelStore(client, { keys });
    const [edge] = await Promise.all([stack.addEdge(), stack.addSweeper()]);
    const api = await stack.startApi();
    if (edge === undefined) throw new Error('no edge');

    // 1. Joins, then leaves, at a fixed rate through the edge.
    const rateSessions = quick ? 200 : 1_000;
    const rate = 1_000;
    const seconds = quick ? 3 : 10;
    const joiners = await openSessions(edge.port, 'rate-', rateSessions);
    opened.push(...joiners);
    await stack.waitSessions(rateSessions);
    // What the stack sends on its own (refreshes, node beats, sweeps) over the same window, to subtract.
    const idleBefore = await commandStats(stack.client);
    await sleep(seconds * 1_000);
    const idle = commandDelta(idleBefore, await commandStats(stack.client));
    // Each session leaves, at the same rate, exactly the channels it joined (the same name sequence).
    for (const kind of ['join', 'leave'] as const) {
      const before = await commandStats(stack.client);
      const started = monoMs();
      let sent = 0;
      for (const s of joiners) {
        s.latencies.length = 0;
        s.nacks = 0;
      }
      await ctx.progress.bar(`${rate} ${kind}s/s for ${seconds} s through one edge`, rate * seconds, async (update) => {
        while (sent < rate * seconds) {
          const due = Math.min(rate * seconds, Math.floor(((monoMs() - started) / 1_000) * rate));
          for (; sent < due; sent += 1) {
            const session = joiners[sent % rateSessions] as WireSession;
            session[kind](`rate:${Math.floor(sent / rateSessions)}:${sent % 97}`);
          }
          update(sent);
          await sleep(5);
        }
      });
      await waitUntil(() => joiners.every((s) => s.pending.length === 0), 30_000, 20);
      const elapsed = (monoMs() - started) / 1_000;
      const delta = commandDelta(before, await commandStats(stack.client));
      const latencies = joiners.flatMap((s) => s.latencies);
      const dist = distribution(latencies);
      metrics[`${kind}.rate`] = latencies.length / elapsed;
      metrics[`${kind}.p50Ms`] = dist.p50;
      metrics[`${kind}.p99Ms`] = dist.p99;
      metrics[`${kind}.nacks`] = joiners.reduce((sum, s) => sum + s.nacks, 0);
      metrics[`${kind}.commandsPer${kind === 'join' ? 'Join' : 'Leave'}`] = (delta.scripts - idle.scripts) / latencies.length;
    }
    for (const s of joiners) s.socket.destroy();

    // 2. Memory, the first page of a 10,000-member channel, and bulk occupancy of 1000 channels.
    const members = quick ? 2_000 : 10_000;
    const seeded = await seedSessions(store, members, { prefix: 'big-', node: 'bench-node' });
    const memoryBefore = await usedMemory(stack.client);
    await ctx.progress.bar(`seed a ${members}-member channel`, members, async (update) => {
      for (let i = 0; i < members; i += 200) {
        await Promise.all(seeded.slice(i, i + 200).map((s) => channels.join(s, 'big', 'bench-node', '{"role":"viewer"}', 100)));
        update(i + 200);
      }
    });
    metrics['memory.bytesPerMembershipBigChannel'] = ((await usedMemory(stack.client)) - memoryBefore) / members;
    const occupancyChannels = Array.from({ length: 1_000 }, (_, i) => `occ:${i}`);
    const memorySmall = await usedMemory(stack.client);
    await Promise.all(
      occupancyChannels.map((name, i) => channels.join(seeded[i % members] as (typeof seeded)[number], name, 'bench-node', null, 200)),
    );
    metrics['memory.bytesPerMembershipOwnChannel'] = ((await usedMemory(stack.client)) - memorySmall) / occupancyChannels.length;

    const base = `http://127.0.0.1:${api.httpPort}`;
    const requests = quick ? 50 : 300;
    const page = distribution(await timeRequests(requests, () => fetch(`${base}/v1/channels/big/members?limit=1000`)));
    metrics['members.channelSize'] = members;
    metrics['members.p50Ms'] = page.p50;
    metrics['members.p99Ms'] = page.p99;
    const body = JSON.stringify({ channels: occupancyChannels });
    const bulk = distribution(
      await timeRequests(requests, () =>
        fetch(`${base}/v1/channels/occupancy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      ),
    );
    metrics['occupancy.p50Ms'] = bulk.p50;
    metrics['occupancy.p99Ms'] = bulk.p99;

    // 3. The baseline: Socket.IO rooms on two nodes sharing this Redis, the same sizes and rate.
    await socketIoBaseline(ctx, stack.redis.url, { members, requests, rateSockets: rateSessions, rate, seconds }, metrics, notes);
    metrics['sio.fetchOverMembersP50'] = (metrics['sio.fetch.p50Ms'] ?? Number.NaN) / page.p50;
    metrics['sio.fetchOverMembersP99'] = (metrics['sio.fetch.p99Ms'] ?? Number.NaN) / page.p99;

    // 4. An edge with N sessions x 10 channels is killed.
    const doomedCount = quick ? 1_000 : 10_000;
    const perSession = 10;
    const pool = 1_000;
    const doomedEdge = await stack.addEdge({ CHANNEL_WRITES_IN_FLIGHT: '256' });
    const doomed = await openSessions(doomedEdge.port, 'doomed-', doomedCount);
    opened.push(...doomed);
    // Heartbeats while the waves join: a session silent for HEARTBEAT_TIMEOUT_MS would be closed.
    const keepAlive = setInterval(() => doomed.forEach((s) => s.ping()), 5_000);
    await ctx.progress.bar(`join ${doomedCount} x ${perSession} channels`, doomedCount * perSession, async (update) => {
      // In waves the edge queues whole (64 x CHANNEL_WRITES_IN_FLIGHT waiting): beyond that it answers NACK overloaded.
      const wave = 1_000;
      for (let from = 0; from < doomedCount; from += wave) {
        const group = doomed.slice(from, from + wave);
        group.forEach((s, k) => {
          for (let j = 0; j < perSession; j += 1) s.join(`kill:${((from + k) * perSession + j) % pool}`);
        });
        await waitUntil(
          () => {
            update(doomed.reduce((sum, s) => sum + s.latencies.length, 0));
            return group.every((s) => s.pending.length === 0);
          },
          60_000,
          20,
        );
      }
    });
    clearInterval(keepAlive);
    const refused = doomed.reduce((sum, s) => sum + s.nacks, 0);
    if (refused > 0) notes.push(`${refused} of the doomed node's joins were refused`);
    const joinedMemberships = doomedCount * perSession - refused;
    const killChannels = Array.from({ length: pool }, (_, i) => `kill:${i}`);
    const heartbeat = setInterval(() => doomed.forEach((s) => s.ping()), 500);
    await sleep(2 * SESSION_REFRESH_MS);
    clearInterval(heartbeat);
    await stack.client.config('SET', 'slowlog-log-slower-than', '1000');
    await stack.client.call('SLOWLOG', 'RESET');
    const othersSessions = (await stack.sessions()) - doomedCount;
    const killedAt = monoMs();
    await doomedEdge.proc.stop('SIGKILL');
    let clearedAt = Number.NaN;
    let sweptAt = Number.NaN;
    await waitUntil(
      async () => {
        if (Number.isNaN(sweptAt) && (await stack.sessions()) <= othersSessions) sweptAt = monoMs();
        const occupancy = await channels.occupancies(killChannels);
        if (occupancy.some((o) => o.sessions > 0) || (await channels.outboxLength()) > 0) return false;
        clearedAt = monoMs();
        return true;
      },
      120_000,
      100,
    );
    metrics['kill.sessions'] = doomedCount;
    metrics['kill.memberships'] = joinedMemberships;
    metrics['kill.allLeftMs'] = clearedAt - killedAt;
    metrics['kill.sweptMs'] = sweptAt - killedAt;
    metrics['kill.boundMs'] = SESSION_TTL_MS + 2_000;
    const leaves = await Promise.all(
      killChannels.map(async (name) => (await channels.readEvents(name, '0-0', 100_000)).filter((e) => e.event.type === 'leave').length),
    );
    metrics['kill.leaveEvents'] = leaves.reduce((a, b) => a + b, 0);
    const slow = await slowCalls(stack.client);
    metrics['kill.longestCallMs'] = slow.length === 0 ? 0 : (slow[0] as { durationUs: number }).durationUs / 1000;
    metrics['kill.callsOver10Ms'] = slow.filter((c) => c.durationUs > 10_000).length;
    const worst = slow.slice(0, 5).map((c) => `${c.command} ${(c.durationUs / 1000).toFixed(1)} ms`);
    if (worst.length > 0) notes.push(`longest Redis calls after the kill: ${worst.join(', ')}`);
    return { metrics, notes };
  } finally {
    for (const s of opened) s.socket.destroy();
    client.disconnect();
    await stack.stop();
  }
}
