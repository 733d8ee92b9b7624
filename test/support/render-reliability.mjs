// Renders the figures recorded by the fault and bad-input tests (.test-logs/figures/*.json) into the
// table of docs/reliability.md, between its figures markers. Run after a test run:
//   npm run test:faults:full && npm run report:reliability
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const dir = new URL('.test-logs/figures/', root);
const doc = new URL('docs/reliability.md', root);
const ORDER = [
  'redis-outage-empty',
  'redis-outage-aof',
  'edge-partition',
  'edge-partition-outage',
  'sentinel-failover',
  'edge-crash',
  'multi-device-end',
  'offline-grace',
  'rolling-restart',
  'sweeper-failover',
  'webhook-worker-crash',
  'webhook-worker-crash-channels',
  'webhook-two-workers',
  'webhook-redis-aof',
  'slow-subscriber',
  'api-restart',
  'sharding-standalone',
  'sharding-cluster',
  'slowloris',
  'backpressure',
  'edge-fuzz',
  'http-fuzz',
  'limits',
  'auth',
];

let files = [];
try {
  files = readdirSync(dir).filter((name) => name.endsWith('.json'));
} catch {
  console.error('report:reliability: no figures yet; run the tests first (npm test or npm run test:faults:full)');
  process.exit(1);
}
const figures = files.map((name) => JSON.parse(readFileSync(new URL(name, dir), 'utf8')));
const rank = (id) => (ORDER.includes(id) ? ORDER.indexOf(id) : ORDER.length);
figures.sort((a, b) => rank(a.id) - rank(b.id) || a.id.localeCompare(b.id));

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const rows = figures.map((f) => {
  const measured = Object.entries(f.measured)
    .map(([k, v]) => `${cell(k)}: **${cell(v)}**`)
    .join('<br>');
  const size = f.full ? 'full' : 'CI (reduced)';
  return `| ${cell(f.fault)} | ${cell(f.test)} | ${measured} | ${size}, ${f.at.slice(0, 10)} |`;
});
const table = ['| fault or input | what the test does | measured | run |', '|---|---|---|---|', ...rows].join('\n');

const text = readFileSync(doc, 'utf8');
const start = '<!-- figures:start -->';
const end = '<!-- figures:end -->';
const before = text.slice(0, text.indexOf(start) + start.length);
const after = text.slice(text.indexOf(end));
if (!text.includes(start) || !text.includes(end)) {
  console.error('report:reliability: docs/reliability.md lacks the figures markers');
  process.exit(1);
}
writeFileSync(doc, `${before}\n${table}\n${after}`);
console.log(`report:reliability: ${rows.length} rows written to docs/reliability.md`);
