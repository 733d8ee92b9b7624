import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * `npm start`: runs one edge node, one sweeper, the API and the webhooks worker as child processes
 * of this one, for local use without Docker. Each child reads the same environment (REDIS_URL and
 * the rest, see the README). Output is passed through (JSON log lines carry a `service` field).
 * SIGTERM or SIGINT stops them all cleanly; if one of them exits, the others are stopped too.
 */
const services = ['edge', 'sweeper', 'api', 'webhooks'] as const;
/**
 * Local use: webhooks may go to receivers on this machine (127.0.0.1) or its network, which the
 * address guard refuses by default. Set WEBHOOK_ALLOW_PRIVATE=off to try the guard.
 */
const env = { WEBHOOK_ALLOW_PRIVATE: 'on', ...process.env };
const children = new Map<string, ChildProcess>();
let stopping = false;
let exitCode = 0;

for (const service of services) {
  const entry = fileURLToPath(new URL(`../../${service}/dist/main.js`, import.meta.url));
  const child = spawn(process.execPath, [entry], { stdio: 'inherit', env });
  children.set(service, child);
  child.on('exit', (code, signal) => {
    children.delete(service);
    if (!stopping) {
      process.stderr.write(`local: ${service} exited (${signal ?? code}); stopping the others\n`);
      exitCode = code === 0 || code === null ? 1 : code;
      stop();
    }
    if (children.size === 0) process.exit(exitCode);
  });
}

function stop(): void {
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
