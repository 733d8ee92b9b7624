/**
 * `npm run bench`: starts Redis, our services and the baselines as separate processes, loads them
 * from load generator processes, and writes bench/results/<label>.{json,md} plus the detection
 * latency chart. See docs/benchmarks.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import type { RunContext, ScenarioRun } from './context.js';
import { parseOptions, type ScenarioName } from './options.js';
import { ROOT, serviceNodeFlags, Workdir } from './processes.js';
import { loadAverage } from './proc-stats.js';
import { Progress } from './progress.js';
import { renderReport, type BenchResults } from './report.js';
import { runIdle } from './scenario-idle.js';
import { runIdleWs } from './scenario-idle-ws.js';
import { runWrites } from './scenario-writes.js';
import { runThroughput } from './scenario-throughput.js';
import { runDetection } from './scenario-detection.js';
import { runSweep } from './scenario-sweep.js';
import { runApi } from './scenario-api.js';
import { runCeiling } from './scenario-ceiling.js';
import { runWebhooks } from './scenario-webhooks.js';
import { runChannels } from './scenario-channels.js';
import { renderDetectionChart } from './chart.js';

const RUNNERS: Record<ScenarioName, (ctx: RunContext) => Promise<ScenarioRun>> = {
  idle: runIdle,
  'idle-ws': runIdleWs,
  writes: runWrites,
  throughput: runThroughput,
  detection: runDetection,
  sweep: runSweep,
  api: runApi,
  webhooks: runWebhooks,
  ceiling: runCeiling,
  channels: runChannels,
};

function versionOf(command: string, args: string[]): string {
  try {
    return (
      execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .trim()
        .split('\n')[0] ?? ''
    );
  } catch (error) {
    // `mosquitto -h` prints its version and exits non-zero.
    const out = String((error as { stdout?: string }).stdout ?? '')
      .trim()
      .split('\n')[0];
    return out === undefined || out === '' ? 'absent' : out;
  }
}

function writeResults(resultsDir: string, results: BenchResults): { markdown: string; chart: string | null } {
  mkdirSync(resultsDir, { recursive: true });
  const chart = renderDetectionChart(results);
  const markdown = renderReport(results, chart === null ? null : `${results.label}-detection.svg`);
  writeFileSync(`${resultsDir}/${results.label}.json`, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(`${resultsDir}/${results.label}.md`, markdown);
  if (chart !== null) writeFileSync(`${resultsDir}/${results.label}-detection.svg`, chart);
  return { markdown, chart };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const progress = new Progress();
  const resultsDir = `${ROOT}bench/results`;
  const work = new Workdir(`${resultsDir}/tmp/${options.label}`);
  const profileDir = `${resultsDir}/profiles/${options.label}`;
  if (options.profile) mkdirSync(profileDir, { recursive: true });
  const started = Date.now();
  const results: BenchResults = {
    label: options.label,
    quick: options.quick,
    runs: options.runs,
    startedAt: new Date(started).toISOString(),
    durationSeconds: 0,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      redis: versionOf('redis-server', ['--version']),
      mosquitto: versionOf('/usr/sbin/mosquitto', ['-h']),
      kernel: versionOf('uname', ['-r']),
      edgeNodeFlags: (options.edgeNodeFlags ?? serviceNodeFlags('edge')).join(' ') || 'none',
    },
    scenarios: {},
    loadAverages: {},
  };
  progress.log(
    `bench ${options.quick ? '--quick' : 'full'}: ${options.scenarios.join(', ')}; ${options.runs} run(s) each; logs in ${work.dir}`,
  );
  let failures = 0;
  for (const scenario of options.scenarios) {
    const runs: ScenarioRun[] = [];
    const loads: number[] = [];
    for (let run = 1; run <= options.runs; run += 1) {
      progress.log(`== ${scenario}, run ${run}/${options.runs} (load average ${loadAverage().toFixed(2)})`);
      const ctx: RunContext = { options, work, profileDir, progress, run, scenario };
      try {
        runs.push(await RUNNERS[scenario](ctx));
      } catch (error) {
        failures += 1;
        progress.log(`!! ${scenario} run ${run} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      loads.push(loadAverage());
    }
    results.scenarios[scenario] = runs;
    results.loadAverages[scenario] = loads;
    results.durationSeconds = Math.round((Date.now() - started) / 1000);
    // Written after every scenario, so that an interrupted long run keeps what it measured.
    writeResults(resultsDir, results);
  }
  const { markdown } = writeResults(resultsDir, results);
  if (!options.quick) {
    writeFileSync(`${resultsDir}/latest.md`, markdown);
    writeFileSync(`${resultsDir}/latest.json`, `${JSON.stringify(results, null, 1)}\n`);
  }
  progress.log(`wrote bench/results/${options.label}.{json,md} and the detection chart in ${results.durationSeconds} s`);
  process.stdout.write(`\n${markdown}\n`);
  if (failures > 0) {
    progress.log(`${failures} scenario run(s) failed`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
