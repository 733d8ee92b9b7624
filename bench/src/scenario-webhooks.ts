import { randomBytes } from 'node:crypto';
import { KeySpace, PresenceStore, type WriteOp } from '@presence/presence-store';
import { Redis } from 'ioredis';
import { monoMs, sleep, waitUntil } from './clock.js';
import { OurStack, SHARDS, type RunContext, type ScenarioRun } from './context.js';
import { IpcWorker } from './ipc-worker.js';
import { CpuMeter } from './proc-stats.js';
import { freePort } from './processes.js';
import { percentile } from './stats.js';
import type { ReceiverCommand, ReceiverStats } from './webhook-receiver-worker.js';

/** Events are written in ticks this far apart, each catching up with the target rate. */
const TICK_MS = 10;

/**
 * Scenario 7: webhooks. One webhooks worker delivers to a receiver process on loopback.
 * (a) Steady load: clients come online and leave at 1,000 events/s; the delay from each event
 *     (its `at`, Redis time) to its first arrival at the receiver (wall clock, the same clock here),
 *     and the CPU of the worker, the API and Redis meanwhile.
 * (b) Outage: the receiver is down (connections refused) for 2 minutes while 60,000 events happen;
 *     then it comes back: time until everything has arrived, events lost, events received twice.
 * Events are written through the store's own scripts (add-session, remove-sessions), as edges write
 * them, so the streams, the fan-out and the delivery see what they see in production.
 */
export async function runWebhooks(ctx: RunContext): Promise<ScenarioRun> {
  const quick = ctx.options.quick;
  const steady = { rate: 1_000, seconds: quick ? 5 : 30 };
  const outage = { events: quick ? 3_000 : 60_000, downSeconds: quick ? 10 : 120 };
  const metrics: Record<string, number> = { steadyRate: steady.rate, steadySeconds: steady.seconds, ...prefixed('outage', outage) };
  const notes: string[] = [];
  const stack = await OurStack.start(ctx, { WEBHOOK_ALLOW_PRIVATE: 'on' });
  const receiver = new IpcWorker<ReceiverCommand>('webhook-receiver-worker.js', 'webhook-receiver');
  const storeClient = new Redis(stack.redis.url);
  try {
    const api = await stack.startApi();
    const worker = await stack.addWebhooks();
    const port = await freePort();
    await receiver.call({ cmd: 'listen', port });
    const store = new PresenceStore(storeClient, {
      keys: new KeySpace(stack.prefix, SHARDS),
      eventsMaxLen: 100_000,
      lastSeenTtlMs: 3_600_000,
    });
    const generator = new EventWriter(store, `wh${ctx.run}`);
    const stats = () => receiver.call<ReceiverStats>({ cmd: 'stats' });

    // (a) steady load, after a warm-up (connections, JIT, batch sizes settling) that is not measured.
    const steadyEndpoint = await register(api.httpPort, `http://127.0.0.1:${port}/steady`);
    await generator.write(steady.rate, quick ? 2_000 : 5_000);
    await waitUntil(async () => (await stats()).unique >= generator.written, 10_000);
    const meters = [new CpuMeter(worker.proc.pid), new CpuMeter(api.proc.pid), new CpuMeter(stack.redis.pid)];
    const before = await stats();
    const measuredFrom = Date.now();
    const target = generator.written;
    await ctx.progress.bar(`${steady.rate} events/s for ${steady.seconds} s`, steady.rate * steady.seconds, async (update) => {
      const writing = generator.write(steady.rate, steady.seconds * 1_000);
      while ((await Promise.race([writing.then(() => true), sleep(500).then(() => false)])) === false) update(generator.written - target);
      update(generator.written - target);
    });
    const all = await waitUntil(async () => (await stats()).unique >= generator.written, 10_000);
    const [workerCpu, apiCpu, redisCpu] = meters.map((meter) => meter.cores() * 100) as [number, number, number];
    const meanMs = async (histogram: string) =>
      (1000 * (await scrapeSum(worker.httpPort, `${histogram}_sum`))) / Math.max(1, await scrapeSum(worker.httpPort, `${histogram}_count`));
    const requestMs = await meanMs('presence_webhook_request_seconds');
    const fanOutMs = await meanMs('presence_webhook_fan_out_delay_seconds');
    const after = await stats();
    const delays = (await receiver.call<number[]>({ cmd: 'delays', since: measuredFrom })).sort((a, b) => a - b);
    Object.assign(metrics, {
      'steady.events': generator.written - target,
      'steady.delivered': after.unique - before.unique,
      'steady.p50Ms': percentile(delays, 50),
      'steady.p99Ms': percentile(delays, 99),
      'steady.maxMs': delays[delays.length - 1] ?? Number.NaN,
      'steady.requests': after.requests - before.requests,
      'steady.eventsPerRequest': (after.events - before.events) / Math.max(1, after.requests - before.requests),
      'steady.requestMs': requestMs,
      'steady.fanOutMeanMs': fanOutMs,
      'steady.meanMs': delays.reduce((sum, d) => sum + d, 0) / Math.max(1, delays.length),
      'steady.workerCpuPercent': workerCpu,
      'steady.apiCpuPercent': apiCpu,
      'steady.redisCpuPercent': redisCpu,
    });
    if (!all) notes.push(`steady: only ${after.unique}/${generator.written} events arrived within 10 s of the last write`);
    ctx.progress.log(
      `  steady: ${delays.length} events, event→receipt p50 ${metrics['steady.p50Ms']} ms, p99 ${metrics['steady.p99Ms']} ms; ${metrics['steady.eventsPerRequest']?.toFixed(1)} events/request, ${requestMs.toFixed(1)} ms/request, mean ${metrics['steady.meanMs']?.toFixed(0)} ms of which fan-out ${fanOutMs.toFixed(0)} ms; CPU worker ${workerCpu.toFixed(0)}%, API ${apiCpu.toFixed(0)}%, Redis ${redisCpu.toFixed(0)}%`,
    );
    await fetch(`http://127.0.0.1:${api.httpPort}/v1/webhooks/${steadyEndpoint}`, { method: 'DELETE' });

    // (b) the receiver is down while the events happen, then comes back.
    await receiver.call({ cmd: 'close' });
    await receiver.call({ cmd: 'reset' });
    await register(api.httpPort, `http://127.0.0.1:${port}/outage`);
    const downAt = monoMs();
    const outageFrom = generator.written;
    const rate = outage.events / outage.downSeconds;
    await ctx.progress.bar(`receiver down ${outage.downSeconds} s, ${outage.events} events`, outage.events, async (update) => {
      const writing = generator.write(rate, outage.downSeconds * 1_000);
      while ((await Promise.race([writing.then(() => true), sleep(1_000).then(() => false)])) === false)
        update(generator.written - outageFrom);
      update(generator.written - outageFrom);
    });
    const written = generator.written - outageFrom;
    await sleep(Math.max(0, outage.downSeconds * 1_000 - (monoMs() - downAt)));
    await receiver.call({ cmd: 'listen', port });
    const backAt = Date.now();
    const caughtUp = await waitUntil(async () => (await stats()).unique >= written, 180_000, 200);
    const final = await stats();
    Object.assign(metrics, {
      'outage.written': written,
      'outage.delivered': final.unique,
      'outage.lost': written - final.unique,
      'outage.receivedTwice': final.events - final.unique,
      'outage.allInMs': caughtUp ? final.lastNewAt - backAt : Number.NaN,
      'outage.requests': final.requests,
    });
    ctx.progress.log(
      `  outage: ${final.unique}/${written} delivered ${caughtUp ? `${metrics['outage.allInMs']} ms after the receiver came back` : 'by the deadline (not all)'}, ${final.events - final.unique} received twice, ${final.requests} requests`,
    );
    metrics.workerFailures = await scrapeSum(worker.httpPort, 'presence_webhook_failures_total');
  } finally {
    await receiver.stop();
    storeClient.disconnect();
    await stack.stop();
  }
  return { metrics, notes };
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [`${prefix}.${key}`, value]));
}

async function register(apiPort: number, url: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${apiPort}/v1/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  if (response.status !== 201) throw new Error(`registering ${url}: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function scrapeSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Writes presence events at a rate: each client comes online and leaves in one batch (two events). */
class EventWriter {
  written = 0;
  private next = 0;
  private readonly store: PresenceStore;
  private readonly prefix: string;

  constructor(store: PresenceStore, prefix: string) {
    this.store = store;
    this.prefix = prefix;
  }

  /** Writes `rate` events a second for `ms`, in ticks that catch up with the schedule. */
  async write(rate: number, ms: number): Promise<void> {
    const start = monoMs();
    const due = (elapsed: number) => Math.floor((rate * Math.min(elapsed, ms)) / 1000 / 2);
    let blinks = 0;
    for (;;) {
      const elapsed = monoMs() - start;
      const now = due(elapsed);
      if (now > blinks) {
        const ops: WriteOp[] = [];
        for (; blinks < now; blinks += 1) {
          const clientId = `${this.prefix}-${this.next++}`;
          const sessionId = randomBytes(10).toString('hex');
          ops.push({ kind: 'add', sessionId, clientId, node: 'bench-webhooks', ttlMs: 600_000, stateJson: null });
          ops.push({ kind: 'remove', sessionId, clientId, reason: 'leave' });
        }
        const results = await this.store.execute(ops);
        for (const result of results) {
          if (!result.ok) throw new Error(`a ${result.kind} failed: ${result.error.message}`);
          if ((result.kind === 'add' || result.kind === 'remove') && result.eventId !== null) this.written += 1;
        }
      }
      if (elapsed >= ms) return;
      await sleep(TICK_MS);
    }
  }
}
