import { createRequire } from 'node:module';
import { runCli } from './program.js';

// The composition root of `presence`: the only place that reads the environment and touches the process.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
/**
 * One Ctrl-C can arrive twice: the terminal sends SIGINT to the whole foreground process group, and
 * `npx` (npm exec), which is in that group, forwards it to its child as well, milliseconds later. A
 * signal this soon after the first is that copy, not a second Ctrl-C.
 */
const SAME_CTRL_C_MS = 300;
const stopHandlers = new Set<() => void>();
// Set by the signal handler: typed by hand, or TypeScript narrows it to `null` for good.
let firstSignalAt = null as number | null;
let stdinUsed = false;
const onSignal = () => {
  const now = performance.now();
  if (firstSignalAt !== null) {
    // A second Ctrl-C while leaving politely means "now".
    if (now - firstSignalAt >= SAME_CTRL_C_MS) process.exit(130);
    return;
  }
  firstSignalAt = now;
  if (stopHandlers.size === 0) process.exit(130);
  for (const handler of [...stopHandlers]) handler();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const exitCode = await runCli(process.argv, {
  env: { apiUrl: process.env.PRESENCE_API_URL, apiToken: process.env.PRESENCE_API_TOKEN },
  version,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  onStop: (handler) => {
    stopHandlers.add(handler);
    return () => stopHandlers.delete(handler);
  },
  input: () => {
    stdinUsed = true;
    return process.stdin;
  },
  interactive: process.stderr.isTTY === true,
});
process.exitCode = exitCode;
if (stdinUsed) process.stdin.pause();
// Nothing should be left running; if something is (a socket in keep-alive), don't wait for it.
setTimeout(() => process.exit(exitCode), 500).unref();
// Stopped by a signal: stay until its forwarded copy can have arrived. One that came while the
// process was already exiting would find the handler gone and end it by SIGINT (130) after all.
if (firstSignalAt !== null) {
  const wait = firstSignalAt + SAME_CTRL_C_MS - performance.now();
  if (wait > 0) setTimeout(() => process.exit(exitCode), wait);
}
