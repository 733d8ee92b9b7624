import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}services/cli/bin/presence.js`;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Only what a test passes, plus PATH: the developer's PRESENCE_* variables must not leak in. */
function cliEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...env };
}

/** Runs `presence <args>` (the built binary) to completion; fails after `timeoutMs`. */
export function runPresence(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`presence ${args.join(' ')} did not finish within ${timeoutMs} ms (stdout: ${stdout}, stderr: ${stderr})`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface PresenceProcessOptions {
  /**
   * Run it as a user types it in the checkout, `npx presence …`, as the leader of its own process
   * group: `stop` then signals the whole group, as a terminal's Ctrl-C does.
   */
  npx?: boolean;
}

/** A long-running `presence` (watch, connect) whose output a test reads as it comes. */
export class PresenceProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly group: boolean;

  constructor(args: readonly string[], env: Record<string, string> = {}, options: PresenceProcessOptions = {}) {
    this.group = options.npx === true;
    this.child = this.group
      ? spawn('npx', ['--no', 'presence', ...args], {
          cwd: ROOT,
          // npm keeps its cache and logs under HOME.
          env: { ...cliEnv(env), HOME: process.env.HOME ?? '/tmp' },
          stdio: ['pipe', 'pipe', 'pipe'],
          detached: true,
        })
      : spawn(process.execPath, [BIN, ...args], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  lines(): string[] {
    return this.stdout.split('\n').filter((line) => line !== '');
  }

  /** Waits for a stdout line matching `pattern` and returns it. */
  waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(() => this.lines().find((line) => pattern.test(line)), {
      timeoutMs,
      what: `a line matching ${pattern} (stdout so far: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)})`,
    });
  }

  /** Writes a line to the process's stdin. */
  type(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Sends a signal and waits for the exit code; SIGKILLs after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    if (this.group && this.child.pid !== undefined) process.kill(-this.child.pid, signal);
    else this.child.kill(signal);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  private kill(): void {
    if (this.group && this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
    else this.child.kill('SIGKILL');
  }
}
