import { createRequire } from 'node:module';
import { runCli } from './program.js';

// The composition root of `presence`: the only place that reads the environment and touches the process.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
const stopHandlers = new Set<() => void>();
let stops = 0;
let stdinUsed = false;
const onSignal = () => {
  stops += 1;
  // A second Ctrl-C while leaving politely means "now".
  if (stops > 1 || stopHandlers.size === 0) process.exit(130);
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
