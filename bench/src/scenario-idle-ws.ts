import { fork, type ChildProcess } from 'node:child_process';
import { sleep } from './clock.js';
import { OurStack, type RunContext, type ScenarioRun } from './context.js';
import { BENCH_DIST, freePort, scrapeMetric, serviceNodeFlags, startScript } from './processes.js';
import { rssOverWindowKiB, steadyRssKiB } from './scenario-helpers.js';

/** Default heartbeat interval (what WELCOME tells clients with the default config). */
const HEARTBEAT_MS = 10_000;
/** Load generator processes (connections are split between them). */
const WORKERS = 2;

interface System {
  name: string;
  pid: number;
  mode: 'ws' | 'wsz' | 'tcp';
  /** A ws:// URL or a TCP port. */
  target: string;
  heapBytes?: () => Promise<number>;
  stop(): Promise<void>;
}

/**
 * Scenario idle-ws: N idle WebSocket connections on our edge, beside a plain `ws` echo server and
 * our edge's TCP port, in the same run on the same machine, a PING every 10 s on each. RSS per
 * connection above the process's idle baseline (docs/benchmarks.md, WebSocket row).
 */
export async function runIdleWs(ctx: RunContext): Promise<ScenarioRun> {
  const size = ctx.options.quick ? 1_000 : 10_000;
  const settleMs = ctx.options.quick ? 2_000 : HEARTBEAT_MS + 2_000;
  const windowMs = ctx.options.quick ? 3_000 : 20_000;
  const metrics: Record<string, number> = { connections: size };
  const notes: string[] = [];

  const edgeSystem = async (name: string, mode: 'ws' | 'tcp'): Promise<System> => {
    const stack = await OurStack.start(ctx);
    const wsPort = await freePort();
    const edge = await stack.addEdge({ EDGE_WS_PORT: String(wsPort) });
    return {
      name,
      pid: edge.proc.pid,
      mode,
      target: mode === 'ws' ? `ws://127.0.0.1:${wsPort}/v1/ws` : String(edge.port),
      heapBytes: () => scrapeMetric(edge.httpPort, 'nodejs_heap_size_used_bytes'),
      stop: () => stack.stop(),
    };
  };
  const echo = async (name: string, nodeArgs: string[], deflate = false): Promise<System> => {
    const port = await freePort();
    const args = deflate ? [String(port), 'deflate'] : [String(port)];
    const proc = await startScript(ctx.work, 'ws-echo-server.js', `idle-ws-run${ctx.run}-${name}`, args, port, nodeArgs);
    return {
      name,
      pid: proc.pid,
      mode: deflate ? 'wsz' : 'ws',
      target: `ws://127.0.0.1:${port}/`,
      stop: async () => void (await proc.stop('SIGKILL')),
    };
  };
  const systems: (() => Promise<System>)[] = [
    () => edgeSystem('oursWs', 'ws'),
    // Plain `node`, as one usually runs it, and with the edge's own flags (--optimize-for-size): like for like.
    () => echo('plainWs', []),
    () => echo('plainWsFlags', ctx.options.edgeNodeFlags ?? serviceNodeFlags('edge')),
    // What offering compression would cost: the same, with permessage-deflate negotiated (ws's defaults).
    () => echo('plainWsDeflate', ctx.options.edgeNodeFlags ?? serviceNodeFlags('edge'), true),
    () => edgeSystem('oursTcp', 'tcp'),
  ];

  for (const startSystem of systems) {
    const system = await startSystem();
    const workers: ChildProcess[] = [];
    try {
      await sleep(ctx.options.quick ? 500 : 1_500);
      const baseKiB = await steadyRssKiB(system.pid);
      const heapBefore = system.heapBytes === undefined ? 0 : await system.heapBytes();
      metrics[`${system.name}.baselineMiB`] = baseKiB / 1024;
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: WORKERS }, (_, w) => {
          const share = Math.floor(size / WORKERS) + (w < size % WORKERS ? 1 : 0);
          const worker = fork(
            `${BENCH_DIST}idle-client-worker.js`,
            [system.mode, system.target, String(share), `idle-ws-${w}-`, String(HEARTBEAT_MS)],
            {
              stdio: 'ignore',
            },
          );
          workers.push(worker);
          return new Promise<{ opened: number; failed: number }>((resolve, reject) => {
            worker.once('message', (result) => resolve(result as { opened: number; failed: number }));
            worker.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
            worker.send({ cmd: 'open' });
          });
        }),
      );
      const live = results.reduce((sum, r) => sum + r.opened, 0);
      const failed = results.reduce((sum, r) => sum + r.failed, 0);
      metrics[`${system.name}.connectRate`] = live / ((performance.now() - started) / 1000);
      metrics[`${system.name}.live`] = live;
      if (failed > 0) notes.push(`${system.name}: ${failed} connections failed`);
      await ctx.progress.wait(`${system.name}: ${live} idle, heartbeating`, settleMs);
      const rssWindow = rssOverWindowKiB(system.pid, windowMs);
      await ctx.progress.wait(`${system.name}: ${live} idle, RSS over ${windowMs / 1000} s`, windowMs);
      const { mean, min, max } = await rssWindow;
      metrics[`${system.name}.rssMiB`] = mean / 1024;
      metrics[`${system.name}.rssPerConnKiB`] = (mean - baseKiB) / live;
      metrics[`${system.name}.rssPerConnKiBMin`] = (min - baseKiB) / live;
      metrics[`${system.name}.rssPerConnKiBMax`] = (max - baseKiB) / live;
      if (system.heapBytes !== undefined)
        metrics[`${system.name}.heapPerConnKiB`] = ((await system.heapBytes()) - heapBefore) / 1024 / live;
      ctx.progress.log(
        `  ${system.name} @${live}: ${((mean - baseKiB) / live).toFixed(2)} KiB/conn above ${(baseKiB / 1024).toFixed(1)} MiB idle`,
      );
    } finally {
      for (const worker of workers) {
        if (worker.connected) worker.send({ cmd: 'close' });
        else worker.kill('SIGKILL');
      }
      await system.stop();
    }
  }
  return { metrics, notes };
}
