import { readFileSync, readdirSync } from 'node:fs';
import { monoMs } from './clock.js';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** Resident set size of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** User + system CPU time of a process in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: fields are counted after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** CPU used by a process over a window, as a fraction of one core. */
export class CpuMeter {
  private readonly pid: number;
  private startCpu: number;
  private startWall: number;

  constructor(pid: number) {
    this.pid = pid;
    this.startCpu = cpuMs(pid);
    this.startWall = monoMs();
  }

  /** Cores used since construction (or the last reset): 1.0 = one core fully busy. */
  cores(): number {
    const wall = monoMs() - this.startWall;
    return wall <= 0 ? 0 : (cpuMs(this.pid) - this.startCpu) / wall;
  }

  cpuMsSince(): number {
    return cpuMs(this.pid) - this.startCpu;
  }

  reset(): void {
    this.startCpu = cpuMs(this.pid);
    this.startWall = monoMs();
  }
}

/** Load average of the machine over the last minute: figures taken while it is high were disturbed. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
