import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../.test-logs/figures/', import.meta.url));

export interface Figure {
  /** Stable id: the row it fills in docs/reliability.md. */
  id: string;
  /** The fault or input. */
  fault: string;
  /** What the test does, in a sentence. */
  test: string;
  /** What was measured, as `name: value` pairs (counts, milliseconds, MiB). */
  measured: Record<string, number | string>;
}

/** Whether the long fault tests run at full size (`npm run test:faults:full`) or reduced (CI). */
export const FULL = process.env.FAULTS_FULL === '1';

export function scaled(full: number, reduced: number): number {
  return FULL ? full : reduced;
}

/** Records a figure for `npm run report:reliability`, which renders docs/reliability.md from them. */
export function recordFigure(figure: Figure): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(`${DIR}${figure.id}.json`, `${JSON.stringify({ ...figure, full: FULL, at: new Date().toISOString() }, null, 2)}\n`);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}
