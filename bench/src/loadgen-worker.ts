/**
 * A load generator process (forked by the orchestrator; commands arrive over IPC). It holds up to
 * ~9000 client connections (line protocol or MQTT), heartbeats them on a timing wheel, kills some
 * on request (silent, socket closed) and floods others with pipelined PINGs for throughput runs.
 * Everything is timed on CLOCK_MONOTONIC (see clock.ts), shared with the other processes.
 */
import { connect, type Socket } from 'node:net';
import { monoMs } from './clock.js';
import { PINGREQ, MqttReader, connectPacket } from './mqtt-codec.js';
import { LatencyHistogram } from './stats.js';

export type Protocol = 'line' | 'mqtt';

export interface Target {
  host: string;
  port: number;
  protocol: Protocol;
  /** MQTT: keepalive in CONNECT (s). */
  keepaliveSeconds?: number;
  /** MQTT: give each client a last will on `will/<clientId>`. */
  will?: boolean;
}

export type WorkerCommand =
  | {
      cmd: 'open';
      group: string;
      target: Target;
      prefix: string;
      from: number;
      count: number;
      localAddresses: string[];
      concurrency: number;
    }
  | { cmd: 'heartbeat'; group: string; intervalMs: number }
  | { cmd: 'kill'; group: string; count: number; mode: 'silent' | 'close' }
  | { cmd: 'flood'; group: string; durationMs: number; batch: number; depth: number; ratePerSecond: number }
  | { cmd: 'stats' }
  | { cmd: 'ids'; group: string; count: number }
  | { cmd: 'close'; group: string }
  | { cmd: 'exit' };

export interface OpenResult {
  connected: number;
  failed: number;
  errors: Record<string, number>;
  elapsedMs: number;
}

export interface FloodResult {
  sent: number;
  answered: number;
  elapsedMs: number;
  histogram: ReturnType<LatencyHistogram['toJSON']>;
  skippedTicks: number;
}

export interface WorkerStats {
  live: number;
  closedByServer: number;
  closedOther: number;
  serverMessages: Record<string, number>;
  /** PINGs sent by the heartbeat wheel (not by floods), all groups. */
  heartbeatsSent: number;
  rssKiB: number;
}

interface Conn {
  id: string;
  socket: Socket;
  protocol: Protocol;
  state: 'connecting' | 'live' | 'closed';
  silent: boolean;
  lastSent: number;
  closedAt: number;
  serverSaid: string | null;
  handshake: string;
  mqtt: MqttReader | null;
  /** Flood: bytes of a partial answer frame, and batches in flight (send time, frames left). */
  rxPartial: number;
  inflight: { t: number; n: number }[];
  inflightFrames: number;
}

const PING_LINE = Buffer.from('PING\n');
const PONG_BYTES = 5;
const PINGRESP_BYTES = 2;
const TICK_MS = 20;

const groups = new Map<string, Conn[]>();
const heartbeats = new Map<string, NodeJS.Timeout>();
const serverMessages: Record<string, number> = {};
let heartbeatsSent = 0;
let flood: { histogram: LatencyHistogram; answered: number; closedLoop: boolean; batch: number; depth: number; running: boolean } | null =
  null;

function pingBytes(protocol: Protocol, count: number): Buffer {
  const one = protocol === 'line' ? PING_LINE : PINGREQ;
  if (count === 1) return one;
  const out = Buffer.allocUnsafe(one.length * count);
  for (let i = 0; i < count; i += 1) one.copy(out, i * one.length);
  return out;
}
const batchCache = new Map<string, Buffer>();
function batchOf(protocol: Protocol, count: number): Buffer {
  const key = `${protocol}:${count}`;
  let buffer = batchCache.get(key);
  if (buffer === undefined) {
    buffer = pingBytes(protocol, count);
    if (count <= 256) batchCache.set(key, buffer);
  }
  return buffer;
}

function sendBatch(conn: Conn, count: number): void {
  const t = monoMs();
  conn.inflight.push({ t, n: count });
  conn.inflightFrames += count;
  conn.lastSent = t;
  conn.socket.write(batchOf(conn.protocol, count));
}

function onAnswers(conn: Conn, frames: number): void {
  if (flood === null) return;
  const now = monoMs();
  let left = frames;
  while (left > 0 && conn.inflight.length > 0) {
    const head = conn.inflight[0] as { t: number; n: number };
    const take = Math.min(left, head.n);
    head.n -= take;
    left -= take;
    conn.inflightFrames -= take;
    flood.answered += take;
    if (head.n === 0) {
      flood.histogram.record(now - head.t);
      conn.inflight.shift();
    }
  }
  if (flood.running && flood.closedLoop) {
    while (conn.inflight.length < flood.depth && conn.state === 'live') sendBatch(conn, flood.batch);
  }
}

function onData(conn: Conn, chunk: Buffer, resolveOpen: (ok: boolean, error?: string) => void): void {
  if (conn.state === 'connecting') {
    if (conn.protocol === 'mqtt') {
      (conn.mqtt as MqttReader).push(chunk, (packet) => {
        if (conn.state !== 'connecting') return;
        if (packet.type === 'connack' && packet.returnCode === 0) {
          conn.state = 'live';
          resolveOpen(true);
        } else resolveOpen(false, `connack_${packet.type === 'connack' ? packet.returnCode : packet.type}`);
      });
      return;
    }
    conn.handshake += chunk.toString('latin1');
    const newline = conn.handshake.indexOf('\n');
    if (newline === -1) return;
    const line = conn.handshake.slice(0, newline);
    conn.handshake = '';
    if (line.startsWith('WELCOME ')) {
      conn.state = 'live';
      resolveOpen(true);
    } else {
      resolveOpen(false, line.split(' ').slice(0, 2).join('_'));
      conn.socket.destroy();
    }
    return;
  }
  const frameBytes = conn.protocol === 'line' ? PONG_BYTES : PINGRESP_BYTES;
  // "PONG\n" has neither B nor E: a chunk with one carries a BYE or ERR (counted; the close follows).
  if (conn.protocol === 'line' && (chunk.indexOf(0x42) !== -1 || chunk.indexOf(0x45) !== -1)) {
    const text = chunk.toString('latin1');
    for (const line of text.split('\n')) {
      if (line.startsWith('BYE') || line.startsWith('ERR')) {
        const key = line.split(' ').slice(0, 2).join('_');
        conn.serverSaid = key;
        serverMessages[key] = (serverMessages[key] ?? 0) + 1;
      }
    }
    return;
  }
  const bytes = conn.rxPartial + chunk.length;
  conn.rxPartial = bytes % frameBytes;
  onAnswers(conn, Math.floor(bytes / frameBytes));
}

function openOne(group: Conn[], target: Target, id: string, localAddress: string | undefined): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      ...(localAddress !== undefined ? { localAddress } : {}),
      noDelay: true,
    });
    const conn: Conn = {
      id,
      socket,
      protocol: target.protocol,
      state: 'connecting',
      silent: false,
      lastSent: 0,
      closedAt: 0,
      serverSaid: null,
      handshake: '',
      mqtt: target.protocol === 'mqtt' ? new MqttReader() : null,
      rxPartial: 0,
      inflight: [],
      inflightFrames: 0,
    };
    let settled = false;
    const settle = (ok: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok) group.push(conn);
      resolve(ok ? null : (error ?? 'failed'));
    };
    const timer = setTimeout(() => {
      settle(false, 'handshake_timeout');
      socket.destroy();
    }, 20_000);
    socket.on('connect', () => {
      conn.lastSent = monoMs();
      if (target.protocol === 'line') socket.write(`HELLO ${id}\n`);
      else {
        const will = target.will === true ? { topic: `will/${id}`, payload: id } : null;
        socket.write(connectPacket(id, target.keepaliveSeconds ?? 60, will));
      }
    });
    socket.on('data', (chunk: Buffer) => onData(conn, chunk, settle));
    socket.on('error', (err: NodeJS.ErrnoException) => settle(false, err.code ?? 'error'));
    socket.on('close', () => {
      conn.state = 'closed';
      conn.closedAt = monoMs();
      settle(false, 'closed');
    });
  });
}

async function open(command: Extract<WorkerCommand, { cmd: 'open' }>): Promise<OpenResult> {
  const group = groups.get(command.group) ?? [];
  groups.set(command.group, group);
  const started = monoMs();
  const errors: Record<string, number> = {};
  let next = 0;
  let connected = 0;
  let failed = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= command.count) return;
      const index = command.from + i;
      const local = command.localAddresses.length === 0 ? undefined : command.localAddresses[index % command.localAddresses.length];
      const error = await openOne(group, command.target, `${command.prefix}${index}`, local);
      if (error === null) connected += 1;
      else {
        failed += 1;
        errors[error] = (errors[error] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, command.concurrency) }, lane));
  return { connected, failed, errors, elapsedMs: monoMs() - started };
}

/** Each live, non-silent connection sends one PING per interval, spread evenly over it. */
function heartbeat(groupName: string, intervalMs: number): void {
  const previous = heartbeats.get(groupName);
  if (previous !== undefined) clearInterval(previous);
  heartbeats.delete(groupName);
  if (intervalMs <= 0) return;
  // Started before the group is opened, so that no connection waits for the whole ramp in silence
  // (with a 3 s timeout, the first of 10,000 would be closed before its first PING).
  const group = groups.get(groupName) ?? [];
  groups.set(groupName, group);
  const slots = Math.max(1, Math.round(intervalMs / TICK_MS));
  const started = monoMs();
  let done = 0;
  const timer = setInterval(() => {
    const due = Math.floor((monoMs() - started) / TICK_MS);
    for (; done <= due; done += 1) {
      const slot = done % slots;
      const now = monoMs();
      for (let i = slot; i < group.length; i += slots) {
        const conn = group[i] as Conn;
        if (conn.state !== 'live' || conn.silent) continue;
        conn.lastSent = now;
        heartbeatsSent += 1;
        conn.socket.write(conn.protocol === 'line' ? PING_LINE : PINGREQ);
      }
    }
  }, TICK_MS);
  heartbeats.set(groupName, timer);
}

/** Kills `count` live connections at once; returns each client's id and moment of death. */
function kill(groupName: string, count: number, mode: 'silent' | 'close'): [string, number][] {
  const group = groups.get(groupName) ?? [];
  const victims = group.filter((conn) => conn.state === 'live' && !conn.silent).slice(0, count);
  const deaths: [string, number][] = [];
  for (const conn of victims) {
    if (mode === 'silent') {
      // Dead from its last frame on: the server sees silence from then.
      conn.silent = true;
      deaths.push([conn.id, conn.lastSent]);
    } else {
      deaths.push([conn.id, monoMs()]);
      conn.silent = true;
      conn.socket.destroy();
    }
  }
  return deaths;
}

async function runFlood(command: Extract<WorkerCommand, { cmd: 'flood' }>): Promise<FloodResult> {
  const group = (groups.get(command.group) ?? []).filter((conn) => conn.state === 'live');
  const closedLoop = command.ratePerSecond <= 0;
  flood = { histogram: new LatencyHistogram(), answered: 0, closedLoop, batch: command.batch, depth: command.depth, running: true };
  const started = monoMs();
  let sent = 0;
  let skippedTicks = 0;
  let timer: NodeJS.Timeout | null = null;
  if (closedLoop) {
    for (const conn of group)
      for (let d = 0; d < command.depth; d += 1) {
        sendBatch(conn, command.batch);
        sent += command.batch;
      }
  } else {
    // Open loop: a fixed total rate, spread over the connections every tick.
    let owed = 0;
    let last = started;
    let cursor = 0;
    timer = setInterval(() => {
      const now = monoMs();
      owed += (command.ratePerSecond * (now - last)) / 1000;
      last = now;
      let frames = Math.floor(owed);
      owed -= frames;
      const perConn = Math.max(1, Math.ceil(frames / group.length));
      let tries = 0;
      while (frames > 0 && tries < group.length) {
        const conn = group[cursor % group.length] as Conn;
        cursor += 1;
        tries += 1;
        if (conn.state !== 'live') continue;
        if (conn.inflightFrames > 20_000) {
          skippedTicks += 1;
          continue;
        }
        const n = Math.min(perConn, frames);
        sendBatch(conn, n);
        sent += n;
        frames -= n;
      }
    }, 5);
  }
  const countSent = () => {
    if (!closedLoop) return sent;
    return flood === null ? sent : flood.answered + group.reduce((sum, conn) => sum + conn.inflightFrames, 0);
  };
  await new Promise((resolve) => setTimeout(resolve, command.durationMs));
  const elapsedMs = monoMs() - started;
  const answered = flood.answered;
  const totalSent = countSent();
  flood.running = false;
  if (timer !== null) clearInterval(timer);
  // Let the last answers drain so the connections are idle again.
  const drainUntil = monoMs() + 3_000;
  while (group.some((conn) => conn.inflightFrames > 0 && conn.state === 'live') && monoMs() < drainUntil) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const histogram = flood.histogram.toJSON();
  for (const conn of group) {
    conn.inflight = [];
    conn.inflightFrames = 0;
    conn.rxPartial = 0;
  }
  flood = null;
  return { sent: totalSent, answered, elapsedMs, histogram, skippedTicks };
}

function stats(): WorkerStats {
  let live = 0;
  let closedByServer = 0;
  let closedOther = 0;
  for (const group of groups.values()) {
    for (const conn of group) {
      if (conn.state === 'live') live += 1;
      else if (conn.serverSaid !== null) closedByServer += 1;
      else closedOther += 1;
    }
  }
  return { live, closedByServer, closedOther, serverMessages, heartbeatsSent, rssKiB: Math.round(process.memoryUsage.rss() / 1024) };
}

async function handle(command: WorkerCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'open':
      return open(command);
    case 'heartbeat':
      heartbeat(command.group, command.intervalMs);
      return null;
    case 'kill':
      return kill(command.group, command.count, command.mode);
    case 'flood':
      return runFlood(command);
    case 'stats':
      return stats();
    case 'ids':
      return (groups.get(command.group) ?? [])
        .filter((conn) => conn.state === 'live' && !conn.silent)
        .slice(0, command.count)
        .map((c) => c.id);
    case 'close': {
      heartbeat(command.group, 0);
      for (const conn of groups.get(command.group) ?? []) conn.socket.destroy();
      groups.delete(command.group);
      return null;
    }
    case 'exit':
      setImmediate(() => process.exit(0));
      return null;
  }
}

process.on('message', (message: { id: number; command: WorkerCommand }) => {
  handle(message.command).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
