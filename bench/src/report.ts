import type { ScenarioRun } from './context.js';
import type { ScenarioName } from './options.js';
import { median } from './stats.js';
import { DETECTION_TIMING } from './scenario-detection.js';

export interface BenchResults {
  label: string;
  quick: boolean;
  runs: number;
  startedAt: string;
  durationSeconds: number;
  machine: Record<string, string | number>;
  scenarios: Partial<Record<ScenarioName, ScenarioRun[]>>;
  /** 1-minute load average after each run: high values mean other work shared the machine. */
  loadAverages: Record<string, number[]>;
}

type Medians = Record<string, number>;

export function medians(runs: readonly ScenarioRun[] | undefined): Medians {
  const out: Medians = {};
  if (runs === undefined) return out;
  const keys = new Set(runs.flatMap((r) => Object.keys(r.metrics)));
  for (const key of keys) out[key] = median(runs.map((r) => r.metrics[key] ?? Number.NaN));
  return out;
}

function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 10_000 && digits === 0) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export interface TargetRow {
  scenario: string;
  target: string;
  measured: string;
  met: boolean | null;
}

/** The issue's targets, checked against the medians (null: not measured in this run). */
export function targets(results: BenchResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const m = (name: ScenarioName) => medians(results.scenarios[name]);
  const check = (scenario: string, target: string, value: number | undefined, ok: (v: number) => boolean, unit: string, digits = 1) => {
    const measured = value === undefined || !Number.isFinite(value) ? 'not measured' : `${fmt(value, digits)} ${unit}`;
    rows.push({ scenario, target, measured, met: value === undefined || !Number.isFinite(value) ? null : ok(value) });
  };
  const idle = m('idle');
  for (const size of [2_000, 10_000, 18_000]) {
    if (idle[`ours.rssPerConnKiB.${size}`] !== undefined) {
      check(
        '1 idle',
        `edge RSS ≤ 3 KiB per connection (${size.toLocaleString('en-US')})`,
        idle[`ours.rssPerConnKiB.${size}`],
        (v) => v <= 3,
        'KiB',
        2,
      );
    }
  }
  const writes = m('writes');
  check('2 writes', 'Redis commands per heartbeat ≤ 0.01 (edge)', writes['ours.edgeOnly.commandsPerHeartbeat'], (v) => v <= 0.01, '', 4);
  check('2 writes', 'Redis commands per heartbeat ≤ 0.01 (whole stack)', writes['ours.full.commandsPerHeartbeat'], (v) => v <= 0.01, '', 4);
  check('2 writes', 'Redis CPU < 10% of a core, 1 s heartbeats (whole stack)', writes['ours.full.redisCpuPercent'], (v) => v < 10, '%');
  const tp = m('throughput');
  check(
    '3 throughput',
    '≥ 150,000 heartbeats/s per edge at ≤ 1 core (pipelined clients)',
    tp['ours.pipelined.perCore'],
    (v) => v >= 150_000,
    '/s per core',
    0,
  );
  check(
    '3 throughput',
    '≥ 150,000 heartbeats/s per edge at ≤ 1 core (lock-step clients)',
    tp['ours.lockstep.perCore'],
    (v) => v >= 150_000,
    '/s per core',
    0,
  );
  const det = m('detection');
  const t = DETECTION_TIMING;
  check(
    '4a silent',
    `p99 ≤ timeout + 300 ms = ${t.HEARTBEAT_TIMEOUT_MS + 300} ms`,
    det['ours.a.p99'],
    (v) => v <= t.HEARTBEAT_TIMEOUT_MS + 300 && (det['ours.a.missing'] ?? 1) === 0,
    'ms',
    0,
  );
  check('4b closed', 'p99 ≤ 100 ms (no offline grace)', det['ours.b.p99'], (v) => v <= 100 && (det['ours.b.missing'] ?? 1) === 0, 'ms', 0);
  check(
    '4c edge killed',
    `p99 ≤ TTL + sweep interval + 300 ms = ${t.SESSION_TTL_MS + t.SWEEP_INTERVAL_MS + 300} ms`,
    det['ours.c.p99'],
    (v) => v <= t.SESSION_TTL_MS + t.SWEEP_INTERVAL_MS + 300 && (det['ours.c.missing'] ?? 1) === 0,
    'ms',
    0,
  );
  const sweep = m('sweep');
  // "Out" = written to the streams and published (the sweep is done); SSE delivery is reported beside.
  check(
    '5 sweep',
    `all offline events out within 2 s (${fmt(sweep.sessions)} sessions; last written, after the deadline)`,
    sweep.allRemovedMs,
    (v) => v <= 2_000,
    'ms',
    0,
  );
  check('5 sweep', 'no Redis call over 10 ms during the sweep', sweep.longestCallMs, (v) => v <= 10, 'ms', 2);
  const api = m('api');
  check(
    '6 API',
    'GET /v1/presence/:id p99 ≤ 5 ms at 2,000 req/s',
    api['get2000.p99Ms'],
    (v) => v <= 5 && (api['get2000.ratePerSecond'] ?? 0) >= 1_900,
    'ms',
    2,
  );
  check('6 API', 'bulk 1000 ids p99 ≤ 25 ms', api['bulk100.p99Ms'], (v) => v <= 25, 'ms', 2);
  const ch = m('channels');
  check('8 channels', 'first page (1000) of a 10,000-member channel p99 ≤ 10 ms', ch['members.p99Ms'], (v) => v <= 10, 'ms', 2);
  // Our first page against Socket.IO's fetchSockets() of the same room in the same run: at p50 and p99, every member answered.
  const faster = [ch['sio.fetchOverMembersP50'], ch['sio.fetchOverMembersP99']];
  const measuredFaster = faster.every((v) => v !== undefined && Number.isFinite(v));
  rows.push({
    scenario: '8 channels',
    target: `first page ≥ 10× faster than Socket.IO \`fetchSockets()\` across two nodes (${fmt(ch['sio.members'])}-member room), p50 and p99`,
    measured: measuredFaster ? `p50 ${fmt(faster[0], 1)}×, p99 ${fmt(faster[1], 1)}×` : 'not measured',
    met: measuredFaster ? faster.every((v) => (v as number) >= 10) && ch['sio.fetch.incomplete'] === 0 : null,
  });
  check('8 channels', 'bulk occupancy of 1000 channels p99 ≤ 25 ms', ch['occupancy.p99Ms'], (v) => v <= 25, 'ms', 2);
  check(
    '8 channels',
    '1,000 joins/s sustained with ≤ 2 Redis commands per join',
    ch['join.commandsPerJoin'],
    (v) => v <= 2.05 && (ch['join.rate'] ?? 0) >= 990 && ch['join.nacks'] === 0,
    'commands',
    2,
  );
  check(
    '8 channels',
    `edge SIGKILL, ${fmt(ch['kill.sessions'])} sessions × 10 channels: every leave out within TTL + 2 s = ${fmt(ch['kill.boundMs'])} ms`,
    ch['kill.allLeftMs'],
    (v) => v <= (ch['kill.boundMs'] ?? 0) && ch['kill.leaveEvents'] === ch['kill.memberships'],
    'ms',
    0,
  );
  const hooks = m('webhooks');
  check(
    '7 webhooks',
    'event → receipt p99 ≤ 200 ms at 1,000 events/s (all delivered)',
    hooks['steady.p99Ms'],
    (v) => v <= 200 && hooks['steady.delivered'] === hooks['steady.events'],
    'ms',
    0,
  );
  check(
    '7 webhooks',
    `receiver down ${fmt(hooks['outage.downSeconds'])} s, ${fmt(hooks['outage.events'])} events: all delivered within 60 s of its return, none lost`,
    hooks['outage.allInMs'],
    (v) => v <= 60_000 && hooks['outage.lost'] === 0,
    'ms',
    0,
  );
  return rows;
}

function sectionIdle(results: BenchResults): string | null {
  const m = medians(results.scenarios.idle);
  if (Object.keys(m).length === 0) return null;
  const rows: string[][] = [];
  const names: Record<string, string> = { ours: '**ours** (edge)', plain: 'plain Node `net` server', mosquitto: 'Mosquitto (MQTT, C)' };
  for (const system of ['ours', 'plain', 'mosquitto']) {
    for (const size of [2_000, 10_000, 18_000]) {
      if (m[`${system}.rssPerConnKiB.${size}`] === undefined) continue;
      rows.push([
        names[system] ?? system,
        fmt(size),
        fmt(m[`${system}.live.${size}`]),
        `**${fmt(m[`${system}.rssPerConnKiB.${size}`], 2)}**`,
        `${fmt(m[`${system}.rssPerConnKiBMin.${size}`], 2)}–${fmt(m[`${system}.rssPerConnKiBMax.${size}`], 2)}`,
        `${fmt(m[`${system}.baselineMiB`], 1)} → ${fmt(m[`${system}.rssMiB.${size}`], 1)}`,
        system === 'ours' ? fmt(m[`${system}.redisBytesPerSession.${size}`]) : '–',
        fmt(m[`${system}.connectRate.${size}`]),
        fmt(m[`${system}.heapPerConnKiB.${size}`], 2),
      ]);
    }
  }
  return `### 1. Idle connections (one server process, a PING every 10 s)\n\n${table(
    [
      'server',
      'connections',
      'live',
      'RSS per connection above idle (KiB, mean over 30 s; 3 s with --quick)',
      'min–max in that window',
      'process RSS idle → loaded (MiB)',
      'Redis bytes per session',
      'connects/s (HELLO→WELCOME)',
      'of which JS heap in use (KiB/conn)',
    ],
    rows,
  )}`;
}

function sectionIdleWs(results: BenchResults): string | null {
  const m = medians(results.scenarios['idle-ws']);
  if (Object.keys(m).length === 0) return null;
  const names: Record<string, string> = {
    oursWs: '**ours**, edge, WebSocket',
    plainWs: 'plain `ws` echo server',
    plainWsFlags: "plain `ws` echo server, with the edge's node flags",
    plainWsDeflate: 'the same, with permessage-deflate',
    oursTcp: '**ours**, edge, TCP (same run)',
  };
  const rows = ['oursWs', 'plainWs', 'plainWsFlags', 'plainWsDeflate', 'oursTcp']
    .filter((system) => m[`${system}.rssPerConnKiB`] !== undefined)
    .map((system) => [
      names[system] ?? system,
      fmt(m[`${system}.live`]),
      `**${fmt(m[`${system}.rssPerConnKiB`], 2)}**`,
      `${fmt(m[`${system}.rssPerConnKiBMin`], 2)}–${fmt(m[`${system}.rssPerConnKiBMax`], 2)}`,
      `${fmt(m[`${system}.baselineMiB`], 1)} → ${fmt(m[`${system}.rssMiB`], 1)}`,
      fmt(m[`${system}.heapPerConnKiB`], 2),
      fmt(m[`${system}.connectRate`]),
    ]);
  return `### 1b. Idle WebSocket connections (one server process, a PING every 10 s)\n\n${table(
    [
      'server',
      'live',
      'RSS per connection above idle (KiB, mean over 20 s; 3 s with --quick)',
      'min–max',
      'process RSS idle → loaded (MiB)',
      'JS heap (KiB/conn)',
      'connects/s',
    ],
    rows,
  )}`;
}

function sectionWrites(results: BenchResults): string | null {
  const m = medians(results.scenarios.writes);
  if (Object.keys(m).length === 0) return null;
  const row = (label: string, key: string) => [
    label,
    fmt(m[`${key}.heartbeatsPerSecond`]),
    fmt(m[`${key}.commandsPerSecond`], 1),
    `**${fmt(m[`${key}.commandsPerHeartbeat`], 4)}**`,
    fmt(m[`${key}.scriptCallsPerHeartbeat`], 4),
    fmt(m[`${key}.redisCpuPercent`], 1),
    fmt(m[`${key}.serverCpuPercent`], 1),
  ];
  return (
    `### 2. Write amplification (${fmt(m.connections)} connections, a PING every 1 s, ${fmt(m.windowSeconds)} s window)\n\n${table(
      [
        'design',
        'heartbeats/s',
        'Redis commands/s',
        'Redis commands per heartbeat',
        'script calls per heartbeat',
        'Redis CPU (% of a core)',
        'server CPU (%)',
      ],
      [
        row('**ours**, edge only', 'ours.edgeOnly'),
        row('**ours**, edge + sweeper + API', 'ours.full'),
        row('naive: ZADD per heartbeat', 'naive'),
      ],
    )}\n\n` +
    'Commands are every command Redis executed (INFO commandstats), including those run inside scripts; "script calls" are the EVALSHAs clients sent.'
  );
}

function sectionThroughput(results: BenchResults): string | null {
  const m = medians(results.scenarios.throughput);
  if (Object.keys(m).length === 0) return null;
  const row = (label: string, key: string) => [
    label,
    fmt(m[`${key}.heartbeatsPerSecond`]),
    fmt(m[`${key}.serverCpuPercent`], 0),
    `**${fmt(m[`${key}.perCore`])}**`,
    fmt(m[`${key}.pongP50Ms`], 2),
    fmt(m[`${key}.pongP99Ms`], 2),
    fmt(m[`${key}.redisCpuPercent`], 0),
    fmt(m[`${key}.commandsPerHeartbeat`], 4),
    fmt(m[`${key}.redisSaturationPerSecond`]),
    fmt(m[`${key}.generatorCpuPercent`], 0),
  ];
  return `### 3. Heartbeat throughput of one server process (${fmt(m.seconds)} s each)\n\n${table(
    [
      'server, clients',
      'heartbeats/s',
      'server CPU (%)',
      'heartbeats/s per server core',
      'PONG p50 (ms)',
      'PONG p99 (ms)',
      'Redis CPU (%)',
      'Redis commands per heartbeat',
      'Redis saturates at (/s)',
      'load generators CPU (%)',
    ],
    [
      row(`**ours**, pipelined (${fmt(m.pipelinedConnections)} conns × 2 × 32 PINGs)`, 'ours.pipelined'),
      row('**ours**, paced at 150,000/s (same conns)', 'ours.paced'),
      row(`**ours**, lock-step (${fmt(m.lockstepConnections)} conns, 1 PING in flight each)`, 'ours.lockstep'),
      row('naive ZADD per heartbeat, pipelined', 'naive.pipelined'),
      row('naive ZADD per heartbeat, lock-step', 'naive.lockstep'),
      row('plain Node `net` server, pipelined', 'plain.pipelined'),
      row('plain Node `net` server, lock-step', 'plain.lockstep'),
    ],
  )}\n\nPONG latency is per batch (from the write of a batch of PINGs to its last PONG). "Redis saturates at" = heartbeats/s ÷ Redis cores used.`;
}

function sectionDetection(results: BenchResults): string | null {
  const m = medians(results.scenarios.detection);
  if (Object.keys(m).length === 0) return null;
  const t = DETECTION_TIMING;
  const rows: string[][] = [];
  const row = (kase: string, label: string, key: string, bound: string) => {
    if (m[`${key}.dying`] === undefined) return;
    const split =
      m[`${key}.toRedisP50`] === undefined
        ? '–'
        : `${fmt(m[`${key}.toRedisP50`])} / ${fmt(m[`${key}.toRedisP99`])} + ${fmt(m[`${key}.fromRedisP50`])} / ${fmt(m[`${key}.fromRedisP99`])}`;
    rows.push([
      kase,
      label,
      bound,
      `${fmt(m[`${key}.arrived`])}/${fmt(m[`${key}.dying`])}`,
      fmt(m[`${key}.p50`]),
      `**${fmt(m[`${key}.p99`])}**`,
      fmt(m[`${key}.max`]),
      split,
    ]);
  };
  const waitS = fmt((m.keyspaceWaitMs ?? 0) / 1000);
  row('(a) silent', '**ours** (SSE)', 'ours.a', `timeout ${t.HEARTBEAT_TIMEOUT_MS}`);
  row('(a) silent', 'key TTL + keyspace `expired`', 'keyspace.a', `TTL ${t.HEARTBEAT_TIMEOUT_MS}`);
  row(
    '(a) silent',
    `key TTL + keyspace, ${fmt(m.fillerKeys)} other keys with a 1 h TTL`,
    'keyspaceFilled.a',
    `TTL ${t.HEARTBEAT_TIMEOUT_MS} (waited ${waitS} s)`,
  );
  row(
    '(a) silent',
    `Mosquitto keepalive ${fmt(m.mqttKeepaliveSeconds)} s + will`,
    'mosquitto.a',
    `1.5 × keepalive = ${(m.mqttKeepaliveSeconds ?? 0) * 1500}`,
  );
  row('(b) socket closed', '**ours** (SSE), no offline grace', 'ours.b', '0');
  row('(b) socket closed', 'Mosquitto + will', 'mosquitto.b', '0');
  row('(c) server SIGKILL', '**ours** (SSE)', 'ours.c', `TTL + sweep ${t.SESSION_TTL_MS + t.SWEEP_INTERVAL_MS}`);
  row('(c) server SIGKILL', 'key TTL + keyspace `expired`', 'keyspace.c', `TTL ${t.HEARTBEAT_TIMEOUT_MS}`);
  row(
    '(c) server SIGKILL',
    `key TTL + keyspace, ${fmt(m.fillerKeys)} other keys`,
    'keyspaceFilled.c',
    `TTL ${t.HEARTBEAT_TIMEOUT_MS} (waited ${waitS} s)`,
  );
  return (
    `### 4. Detection latency: death → offline notification at a subscriber (${fmt(m.clients)} clients, ${fmt(m.dying)} dying at once)\n\n${table(
      [
        'case',
        'design',
        'design bound (ms)',
        'arrived',
        'p50 (ms)',
        'p99 (ms)',
        'max (ms)',
        'death → written in Redis + written → subscriber, p50 / p99 (ms)',
      ],
      rows,
    )}\n\n` +
    `Timing: heartbeat ${t.HEARTBEAT_INTERVAL_MS} ms, timeout ${t.HEARTBEAT_TIMEOUT_MS} ms, refresh ${t.SESSION_REFRESH_MS} ms, session TTL ${t.SESSION_TTL_MS} ms, sweep every ${t.SWEEP_INTERVAL_MS} ms. ` +
    'A silent client died at its last frame; a closed one at its close; a killed server\'s clients at the SIGKILL. Latencies of clients whose notification never came within the wait are not in the percentiles: see "arrived".'
  );
}

function sectionSweep(results: BenchResults): string | null {
  const m = medians(results.scenarios.sweep);
  if (Object.keys(m).length === 0) return null;
  return (
    `### 5. Sweep cost (sessions of a vanished node, all expiring at once)\n\n${table(
      [
        'sessions',
        'sweepers × SWEEP_BATCH',
        'first event out (ms after deadline)',
        '**all written** (ms after deadline)',
        'events at the SSE subscriber',
        'SSE resumes',
        'all at the SSE subscriber (ms after deadline)',
        'longest Redis call (ms)',
        'calls > 10 ms',
        'calls > 1 ms',
        'Redis CPU (s)',
        'sweeper CPU (s)',
      ],
      [
        [
          fmt(m.sessions),
          `${fmt(m.sweepers)} × ${fmt(m.sweepBatch)}`,
          fmt(m.firstOutMs),
          `**${fmt(m.allRemovedMs)}**`,
          fmt(m.arrived),
          fmt(m.sseReconnects),
          fmt(m.allOutMs),
          `**${fmt(m.longestCallMs, 2)}**`,
          fmt(m.callsOver10Ms),
          fmt(m.callsOver1Ms),
          fmt(m.redisCpuSeconds, 2),
          fmt(m.sweeperCpuSeconds, 2),
        ],
      ],
    )}

` +
    '"All written": the deadlines set is empty, i.e. every offline event is in its stream and published (polled every 50 ms). ' +
    'The SSE subscriber is dropped by the API once more than `SSE_MAX_BUFFER_BYTES` (1 MiB) is unread during the burst and resumes with Last-Event-ID; ' +
    'events trimmed from the streams (`EVENTS_MAXLEN`, ~6,250 per shard) before it resumed never reach it, so "all at the SSE subscriber" is empty when any were lost.'
  );
}

function sectionApi(results: BenchResults): string | null {
  const m = medians(results.scenarios.api);
  if (Object.keys(m).length === 0) return null;
  const row = (label: string, key: string) => [
    label,
    fmt(m[`${key}.ratePerSecond`]),
    fmt(m[`${key}.p50Ms`], 2),
    `**${fmt(m[`${key}.p99Ms`], 2)}**`,
    fmt(m[`${key}.maxMs`], 1),
    fmt(m[`${key}.errors`]),
    fmt(m[`${key}.apiCpuPercent`], 0),
    fmt(m[`${key}.redisCpuPercent`], 0),
  ];
  return `### 6. HTTP API under heartbeat load (${fmt(m.connections)} clients PINGing every second; autocannon, ${fmt(m.seconds)} s each)\n\n${table(
    ['request', 'req/s', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'errors', 'API CPU (%)', 'Redis CPU (%)'],
    [
      row('GET /v1/presence/:id at 2,000 req/s', 'get2000'),
      row('GET /v1/presence/:id flat out (20 conns)', 'getMax'),
      row('POST /v1/presence/query, 1000 ids, at 100 req/s', 'bulk100'),
      row('POST /v1/presence/query, 1000 ids, flat out (4 conns)', 'bulkMax'),
    ],
  )}`;
}

function sectionWebhooks(results: BenchResults): string | null {
  const m = medians(results.scenarios.webhooks);
  if (Object.keys(m).length === 0) return null;
  return (
    `### 7. Webhooks: one worker delivering to a receiver on loopback\n\n${table(
      [
        'case',
        'events',
        'delivered',
        'event → receipt p50 / p99 / max (ms)',
        'mean (ms), of which fan-out',
        'requests (events per request), mean request (ms)',
        'CPU: worker / API / Redis (% of a core)',
      ],
      [
        [
          `steady, ${fmt(m.steadyRate)} events/s for ${fmt(m.steadySeconds)} s`,
          fmt(m['steady.events']),
          fmt(m['steady.delivered']),
          `${fmt(m['steady.p50Ms'])} / **${fmt(m['steady.p99Ms'])}** / ${fmt(m['steady.maxMs'])}`,
          `${fmt(m['steady.meanMs'])}, ${fmt(m['steady.fanOutMeanMs'])}`,
          `${fmt(m['steady.requests'])} (${fmt(m['steady.eventsPerRequest'], 1)}), ${fmt(m['steady.requestMs'], 1)}`,
          `${fmt(m['steady.workerCpuPercent'], 0)} / ${fmt(m['steady.apiCpuPercent'], 0)} / ${fmt(m['steady.redisCpuPercent'], 0)}`,
        ],
      ],
    )}\n\n${table(
      [
        'receiver down',
        'events meanwhile',
        'delivered',
        'lost',
        'received twice',
        '**all in after its return** (ms)',
        'requests after its return',
      ],
      [
        [
          `${fmt(m['outage.downSeconds'])} s`,
          fmt(m['outage.written']),
          fmt(m['outage.delivered']),
          fmt(m['outage.lost']),
          fmt(m['outage.receivedTwice']),
          `**${fmt(m['outage.allInMs'])}**`,
          fmt(m['outage.requests']),
        ],
      ],
    )}\n\n` +
    "Events are written through the store's scripts, each client online then offline in one batch (two events). " +
    "Delay: the event's `at` (Redis time) to its first arrival at the receiver (the same wall clock). " +
    "Down: the receiver's port is closed (connections refused); the worker retries with its default backoff (1 s doubling, capped at 30 s, jittered)."
  );
}

function sectionChannels(results: BenchResults): string | null {
  const m = medians(results.scenarios.channels);
  if (Object.keys(m).length === 0) return null;
  const sio = m['sio.sockets'] !== undefined;
  const rate = (key: string, refused: string) =>
    m[`${key}.rate`] === undefined
      ? '–'
      : `${fmt(m[`${key}.rate`])}/s; p50 ${fmt(m[`${key}.p50Ms`], 2)} ms, p99 ${fmt(m[`${key}.p99Ms`], 2)} ms; ${fmt(m[`${key}.${refused}`])} ${refused === 'nacks' ? 'NACKs' : 'unanswered'}`;
  const ours = (key: 'join' | 'leave') => rate(key, 'nacks');
  const theirs = (key: 'join' | 'leave') => rate(`sio.${key}`, 'failed');
  const size = fmt(m['members.channelSize'] ?? 10_000);
  return (
    `### 8. Channels\n\n${table(
      ['measure', '**ours**', 'Socket.IO + @socket.io/redis-adapter, 2 nodes'],
      [
        ['JOINs at 1,000/s (JOIN → JOINED; emit `join` → ack)', ours('join'), theirs('join')],
        ['LEAVEs of the same rooms at 1,000/s', ours('leave'), theirs('leave')],
        [
          'Redis commands sent per join / per leave',
          `${fmt(m['join.commandsPerJoin'], 2)} / ${fmt(m['leave.commandsPerLeave'], 2)}`,
          sio ? `${fmt(m['sio.join.commandsPerOp'], 2)} / ${fmt(m['sio.leave.commandsPerOp'], 2)} (rooms live in each node's memory)` : '–',
        ],
        [
          `who is in a ${size}-member room, sequential requests over HTTP`,
          `GET /v1/channels/big/members?limit=1000 (first page): p50 ${fmt(m['members.p50Ms'], 2)} ms, **p99 ${fmt(m['members.p99Ms'], 2)} ms**`,
          sio
            ? `\`io.in('big').fetchSockets()\` on node A, ${fmt(m['sio.members'])} sockets (${fmt(m['sio.sockets'])} connected, half per node): p50 ${fmt(m['sio.fetch.p50Ms'], 2)} ms, **p99 ${fmt(m['sio.fetch.p99Ms'], 2)} ms**; ${fmt(m['sio.fetch.incomplete'])} answers short of members`
            : '–',
        ],
        [
          '`fetchSockets()` time ÷ our first page',
          '–',
          sio ? `p50 ${fmt(m['sio.fetchOverMembersP50'], 1)}×, **p99 ${fmt(m['sio.fetchOverMembersP99'], 1)}×**` : '–',
        ],
        [
          'Redis traffic per "who is in the room"',
          '1 script call',
          sio
            ? `${fmt(m['sio.fetch.commands'], 1)} commands (PUBSUB NUMSUB, PUBLISH request, PUBLISH answer), ${fmt((m['sio.fetch.publishBytes'] ?? Number.NaN) / 1024)} KiB published`
            : '–',
        ],
        [
          'POST /v1/channels/occupancy, 1000 channels',
          `p50 ${fmt(m['occupancy.p50Ms'], 2)} ms, **p99 ${fmt(m['occupancy.p99Ms'], 2)} ms**`,
          '–',
        ],
        [
          'Redis memory per membership, in a big channel',
          `${fmt(m['memory.bytesPerMembershipBigChannel'], 0)} bytes`,
          '– (none: in node memory)',
        ],
        [
          'Redis memory per membership, one member per channel (channel keys included)',
          `${fmt(m['memory.bytesPerMembershipOwnChannel'], 0)} bytes`,
          '–',
        ],
        [
          `edge SIGKILL: ${fmt(m['kill.sessions'])} sessions, ${fmt(m['kill.memberships'])} memberships`,
          `sessions expired ${fmt(m['kill.sweptMs'])} ms and all left ${fmt(m['kill.allLeftMs'])} ms after the kill (TTL ${fmt((m['kill.boundMs'] ?? 2_000) - 2_000)} ms); ${fmt(m['kill.leaveEvents'])} leave events; longest Redis call ${fmt(m['kill.longestCallMs'], 2)} ms, ${fmt(m['kill.callsOver10Ms'])} over 10 ms`,
          '–',
        ],
      ],
    )}\n\n` +
    'Joins and leaves: raw TCP sessions on one edge send `JOIN` at a fixed rate (each to a new channel), then `LEAVE` the same channels at the same rate; latency is the frame sent → its answer read. ' +
    'Commands per join or leave: EVALSHA calls Redis counted (INFO commandstats), less those of an idle window as long (refreshes, beats, sweeps). ' +
    'Members and occupancy: one request after another through the API, timed until the body is read. Memory: INFO used_memory before and after the joins. ' +
    'SIGKILL: "all left" is when every channel of the dead node has no session left and every shard outbox is empty, polled every 100 ms. ' +
    'Socket.IO: two `bench/src/socketio-server.ts` processes on the same Redis, socket.io-client sockets (WebSocket only) held by one worker process per node; as many sockets join and leave at the same rate and room names on node A, emitting with an ack; ' +
    "what the adapters send to Redis is counted in their Redis clients. `fetchSockets()` is timed over HTTP to an endpoint on node A that awaits it and answers the count and ids, like our page; it returns every member (Socket.IO has no pages) and waits for node B's answer over Redis pub/sub."
  );
}

function sectionCeiling(results: BenchResults): string | null {
  const m = medians(results.scenarios.ceiling);
  if (Object.keys(m).length === 0) return null;
  return `### Ceiling: what this Redis does on this machine\n\n${table(
    ['measure', 'per second'],
    [
      ['redis-benchmark ZADD, pipelined (-P 64, 4 clients)', fmt(m.zaddPipelinedPerSecond)],
      ['redis-benchmark ZADD, one per round trip (50 clients) — what a naive design sends', fmt(m.zaddUnpipelinedPerSecond)],
      [
        `**ours**: deadline updates by refresh-1 (1000 members per call, ${fmt(m.refreshSessions)} sessions)`,
        `**${fmt(m.ourMemberUpdatesPerSecond)}** (${fmt((m.ourFractionOfPipelinedZadd ?? 0) * 100, 0)}% of pipelined ZADD; Redis at ${fmt(m.ourRedisCpuPercent, 0)}% CPU)`,
      ],
    ],
  )}`;
}

export function renderReport(results: BenchResults, chartFile: string | null): string {
  const targetRows = targets(results);
  const verdict = (met: boolean | null) => (met === null ? '–' : results.quick ? (met ? '(yes)' : '(no)') : met ? '**yes**' : '**no**');
  const loads = Object.entries(results.loadAverages)
    .map(([s, l]) => `${s} ${l.map((x) => x.toFixed(1)).join('/')}`)
    .join('; ');
  const sections = [
    sectionIdle,
    sectionIdleWs,
    sectionWrites,
    sectionThroughput,
    sectionDetection,
    sectionSweep,
    sectionApi,
    sectionWebhooks,
    sectionChannels,
    sectionCeiling,
  ]
    .map((f) => f(results))
    .filter((s): s is string => s !== null);
  const notes = Object.entries(results.scenarios).flatMap(([name, runs]) =>
    (runs ?? []).flatMap((r, i) => (r.notes ?? []).map((n) => `- ${name} run ${i + 1}: ${n}`)),
  );
  return [
    `## Results: ${results.label}${results.quick ? ' (--quick: reduced sizes, one run; targets are not judged)' : ''}`,
    '',
    `${results.quick ? 'Smoke run' : `Medians of ${results.runs} runs`}; ${results.startedAt}, ${results.durationSeconds} s. Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGiB} GiB, ` +
      `Linux ${results.machine.kernel}, Node ${results.machine.node}, ${results.machine.redis}, ${results.machine.mosquitto}. ` +
      `${results.machine.edgeNodeFlags === undefined ? '' : `Edge node flags: ${results.machine.edgeNodeFlags}. `}Load average after each run: ${loads}.`,
    '',
    '### Targets',
    '',
    table(
      ['scenario', 'target', 'measured (median)', 'met'],
      targetRows.map((r) => [r.scenario, r.target, r.measured, verdict(r.met)]),
    ),
    '',
    ...sections.flatMap((s) => [s, '']),
    ...(chartFile === null ? [] : [`![Detection latency distributions](${chartFile})`, '']),
    ...(notes.length === 0 ? [] : ['Notes:', '', ...notes, '']),
  ].join('\n');
}
