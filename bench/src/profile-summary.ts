/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile`): the
 * functions with the most self time, and the share of idle, GC and program time. With --window MS,
 * only the busiest MS of the profile (a burst such as 1000 sockets closing at once), searched from
 * --from S seconds into it (to pass over start-up and the connect ramp).
 * Usage: node bench/dist/profile-summary.js <file.cpuprofile> [top] [--window MS [--from S]]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const windowAt = args.indexOf('--window');
const windowMs = windowAt === -1 ? null : Number(args.splice(windowAt, 2)[1]);
const fromAt = args.indexOf('--from');
const fromS = fromAt === -1 ? 0 : Number(args.splice(fromAt, 2)[1]);
const [file, topArg] = args;
const top = Number(topArg ?? 25);
if (file === undefined || (windowMs !== null && !(windowMs > 0)) || !(fromS >= 0)) {
  console.error('usage: node bench/dist/profile-summary.js <file.cpuprofile> [top] [--window MS [--from S]]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));

// Sample i covers timeDeltas[i] µs ending at its timestamp; a window keeps samples [from, to).
let from = 0;
let to = profile.samples.length;
let totalUs = profile.endTime - profile.startTime;
if (windowMs !== null) {
  const at: number[] = [];
  let t = 0;
  for (const delta of profile.timeDeltas) at.push((t += delta));
  let best = -1;
  let busyInWindow = 0;
  let start = 0;
  while (start < at.length && (at[start] as number) < fromS * 1e6) start += 1;
  for (let end = start; end < profile.samples.length; end += 1) {
    if (!idleIds.has(profile.samples[end] as number)) busyInWindow += profile.timeDeltas[end] ?? 0;
    while ((at[end] as number) - (at[start] as number) > windowMs * 1000) {
      if (!idleIds.has(profile.samples[start] as number)) busyInWindow -= profile.timeDeltas[start] ?? 0;
      start += 1;
    }
    if (busyInWindow > best) [best, from, to] = [busyInWindow, start, end + 1];
  }
  totalUs = windowMs * 1000;
  console.log(
    `busiest ${windowMs} ms: ${((at[from] as number) / 1e6).toFixed(2)}–${((at[to - 1] as number) / 1e6).toFixed(2)} s into the profile`,
  );
}
const selfUs = new Map<number, number>();
for (let i = from; i < to; i += 1) {
  const id = profile.samples[i] as number;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const byFunction = new Map<string, number>();
let idle = 0;
let gc = 0;
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (node === undefined) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  if (functionName === '(idle)') idle += us;
  if (functionName === '(garbage collector)') gc += us;
  const where =
    url === '' ? '' : ` ${url.replace(/^.*\/(node_modules|services|libs)\//, '$1/').replace(/^node:/, 'node:')}:${lineNumber + 1}`;
  const key = `${functionName || '(anonymous)'}${where}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
}
const busy = totalUs - idle;
console.log(
  `${file}\n  wall ${(totalUs / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((busy / totalUs) * 100).toFixed(0)}%), GC ${((gc / Math.max(1, busy)) * 100).toFixed(1)}% of busy`,
);
console.log('  self time, % of busy:');
for (const [key, us] of [...byFunction]
  .filter(([k]) => !k.startsWith('(idle)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top)) {
  console.log(`  ${((us / Math.max(1, busy)) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
}
