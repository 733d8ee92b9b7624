/**
 * Combines the scenarios of several result files into one report (later files win per scenario),
 * e.g. when a long run was completed by a second run of some scenarios.
 * Usage: node bench/dist/merge-results.js <out-label> <label> [<label> ...]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderDetectionChart } from './chart.js';
import { ROOT } from './processes.js';
import { renderReport, type BenchResults } from './report.js';

const [outLabel, ...labels] = process.argv.slice(2);
if (outLabel === undefined || labels.length === 0) {
  console.error('usage: node bench/dist/merge-results.js <out-label> <label> [<label> ...]');
  process.exit(2);
}
const dir = `${ROOT}bench/results`;
const inputs = labels.map((label) => JSON.parse(readFileSync(`${dir}/${label}.json`, 'utf8')) as BenchResults);
const first = inputs[0] as BenchResults;
const merged: BenchResults = {
  ...first,
  label: outLabel,
  durationSeconds: inputs.reduce((sum, r) => sum + r.durationSeconds, 0),
  scenarios: Object.assign({}, ...inputs.map((r) => r.scenarios)) as BenchResults['scenarios'],
  loadAverages: Object.assign({}, ...inputs.map((r) => r.loadAverages)) as BenchResults['loadAverages'],
};
const chart = renderDetectionChart(merged);
const markdown = renderReport(merged, chart === null ? null : `${outLabel}-detection.svg`).replace(
  '\n\n',
  `\n\nMerged from runs ${labels.map((l) => `\`${l}\``).join(', ')} (later runs win per scenario).\n\n`,
);
writeFileSync(`${dir}/${outLabel}.json`, `${JSON.stringify(merged, null, 1)}\n`);
writeFileSync(`${dir}/${outLabel}.md`, markdown);
if (chart !== null) writeFileSync(`${dir}/${outLabel}-detection.svg`, chart);
writeFileSync(`${dir}/latest.md`, markdown);
writeFileSync(`${dir}/latest.json`, `${JSON.stringify(merged, null, 1)}\n`);
console.log(`wrote bench/results/${outLabel}.{json,md} and latest.{json,md}`);
