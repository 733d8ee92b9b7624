import cliProgress from 'cli-progress';
import { monoMs, sleep } from './clock.js';

const interactive = process.stdout.isTTY === true;

/** Progress for long phases: a bar on a terminal, a start and end line otherwise (CI logs). */
export class Progress {
  private readonly started = monoMs();

  log(message: string): void {
    const t = ((monoMs() - this.started) / 1000).toFixed(0).padStart(4);
    process.stdout.write(`[${t}s] ${message}\n`);
  }

  /** Shows a bar for `total` units while `work` runs; `update(value)` moves it. */
  async bar<T>(label: string, total: number, work: (update: (value: number) => void) => Promise<T>): Promise<T> {
    if (!interactive) {
      this.log(`${label} ...`);
      return work(() => {});
    }
    const bar = new cliProgress.SingleBar(
      {
        format: `       ${label.padEnd(44).slice(0, 44)} [{bar}] {percentage}% | {value}/{total} | {duration}s`,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 28,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    try {
      return await work((value) => bar.update(Math.min(total, Math.round(value))));
    } finally {
      bar.stop();
    }
  }

  /** Waits `ms` with a bar (for settle and measurement windows). */
  async wait(label: string, ms: number): Promise<void> {
    await this.bar(`${label} (${(ms / 1000).toFixed(0)} s)`, Math.max(1, Math.round(ms / 1000)), async (update) => {
      const start = monoMs();
      while (monoMs() - start < ms) {
        await sleep(Math.min(250, ms - (monoMs() - start)));
        update((monoMs() - start) / 1000);
      }
    });
  }
}
