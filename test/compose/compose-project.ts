import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';

/** One container of the project, as `docker inspect` describes it. */
export interface ContainerState {
  id: string;
  service: string;
  number: number;
  hostname: string;
  status: string;
  running: boolean;
  /** When the container last started (ms since the epoch). */
  startedAt: number;
  /** `healthy`, `starting`, `unhealthy`, or null for a service without a health check. */
  health: string | null;
  exitCode: number;
  restartCount: number;
  env: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  ms: number;
}

interface InspectJson {
  Id: string;
  RestartCount: number;
  Config: { Hostname: string; Env: string[]; Labels: Record<string, string> };
  State: { Status: string; Running: boolean; StartedAt: string; ExitCode: number; Health?: { Status: string } };
}

/**
 * The real `docker compose` CLI on the repository's docker-compose.yml, under a project name of its
 * own (`-p`), so a test never touches a stack the user runs. Every command and its output go to
 * `<logDir>/commands.log`.
 */
export class ComposeProject {
  readonly name: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logDir: string;
  private readonly cwd: string;
  private readonly log: WriteStream;
  private readonly children = new Set<ChildProcess>();

  constructor(options: { name: string; cwd: string; env: Record<string, string>; logDir: string }) {
    this.name = options.name;
    this.cwd = options.cwd;
    this.env = { ...process.env, ...options.env };
    this.logDir = options.logDir;
    mkdirSync(this.logDir, { recursive: true });
    this.log = createWriteStream(`${this.logDir}/commands.log`, { flags: 'a' });
  }

  /** `docker compose -p <name> <args>`: resolves when it exits 0, rejects with its stderr otherwise. */
  compose(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return this.run('docker', ['compose', '-p', this.name, ...args], timeoutMs);
  }

  /** `docker <args>` (inspect, kill, events...). */
  docker(args: string[], timeoutMs = 60_000): Promise<RunResult> {
    return this.run('docker', args, timeoutMs);
  }

  /** Runs a command in the first container of `service` (`docker compose exec -T`), returns its stdout. */
  async exec(service: string, command: string[]): Promise<string> {
    return (await this.compose(['exec', '-T', service, ...command])).stdout;
  }

  /** Every container of the project, running or not, with its compose service and health. */
  async containers(): Promise<ContainerState[]> {
    // `docker ps` by the project label: what `docker compose ps -q` lists, in milliseconds instead of seconds.
    const listed = await this.docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${this.name}`]);
    const ids = listed.stdout.split('\n').filter((id) => id !== '');
    if (ids.length === 0) return [];
    const inspected = JSON.parse((await this.docker(['inspect', ...ids])).stdout) as InspectJson[];
    return inspected.map((c) => ({
      id: c.Id,
      service: c.Config.Labels['com.docker.compose.service'] ?? '',
      number: Number(c.Config.Labels['com.docker.compose.container-number']),
      hostname: c.Config.Hostname,
      status: c.State.Status,
      running: c.State.Running,
      startedAt: Date.parse(c.State.StartedAt),
      health: c.State.Health?.Status ?? null,
      exitCode: c.State.ExitCode,
      restartCount: c.RestartCount,
      env: Object.fromEntries(c.Config.Env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)])),
    }));
  }

  /**
   * Starts a long-running command (`docker compose logs -f`) whose stdout goes to
   * `onLine` line by line; it is stopped by `stopAll`.
   */
  follow(args: string[], onLine: (line: string) => void): ChildProcess {
    const child = spawn('docker', args, { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    let buffer = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        onLine(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => this.log.write(chunk));
    return child;
  }

  /** Stops what `follow` started. */
  stopAll(): void {
    for (const child of this.children) child.kill('SIGTERM');
  }

  close(): Promise<void> {
    this.stopAll();
    return new Promise((resolve) => this.log.end(resolve));
  }

  private run(command: string, args: string[], timeoutMs: number): Promise<RunResult> {
    const started = performance.now();
    this.log.write(`\n$ ${command} ${args.join(' ')}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        this.log.write(chunk);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const ms = Math.round(performance.now() - started);
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        // `docker inspect` answers run to pages; the first lines say enough.
        this.log.write(`${stdout.length > 2_000 ? `${stdout.slice(0, 2_000)}...\n` : stdout}[exit ${code ?? signal} after ${ms} ms]\n`);
        if (code === 0) resolve({ stdout, stderr, ms });
        else {
          const why = signal === 'SIGKILL' ? `killed after ${timeoutMs} ms` : `exit ${code ?? signal}`;
          reject(new Error(`${command} ${args.join(' ')}: ${why}\n${stderr.trim().split('\n').slice(-15).join('\n')}`));
        }
      });
    });
  }
}
