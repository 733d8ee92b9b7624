import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiDocument } from '../../services/api/src/api-routes.js';
import { ContractChecker } from '../support/contract-check.js';
import { CONTRACT_DIR, type ContractRecord } from '../support/contract-recorder.js';

// The contract project runs after the integration project in the same `vitest run` (groupOrder 2),
// and reads the answers that project's tests received from the API (contract-recorder.ts).
const run = process.env.PRESENCE_CONTRACT_RUN ?? '';
const runDir = `${CONTRACT_DIR}/${run}`;

function recorded(): ContractRecord[] {
  if (run === '' || !existsSync(runDir)) return [];
  return readdirSync(runDir)
    .filter((name) => name.endsWith('.jsonl'))
    .flatMap((name) =>
      readFileSync(`${runDir}/${name}`, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as ContractRecord),
    );
}

const document = apiDocument();

describe('the OpenAPI document holds every answer the end-to-end tests got', () => {
  const records = recorded();

  it('answers were recorded in this run (run with the integration project: npm test)', () => {
    expect(records.length, `no answers under ${runDir}: this test checks those of the integration project's run`).toBeGreaterThan(0);
  });

  it('every recorded JSON answer and SSE frame is described by the document', () => {
    const checker = new ContractChecker(document);
    const failures: string[] = [];
    const covered = new Map<string, number>();
    for (const record of records) {
      const verdict = checker.check(record);
      covered.set(verdict.operation, (covered.get(verdict.operation) ?? 0) + 1);
      if (!verdict.ok) failures.push(`${record.file}: ${verdict.operation}: ${verdict.problem}`);
    }
    const operations = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      Object.keys(item ?? {}).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const seen = new Set([...covered.keys()].map((key) => key.split(' ').slice(0, 2).join(' ')));
    const summary = [
      `${records.length} answers recorded (${records.filter((r) => r.kind === 'sse').length} SSE frames), ${failures.length} not as documented`,
      `operations answered: ${operations.filter((op) => seen.has(op)).length} of ${operations.length}; never: ${operations.filter((op) => !seen.has(op)).join(', ') || 'none'}`,
      ...[...covered].sort(([a], [b]) => a.localeCompare(b)).map(([operation, count]) => `  ${count}\t${operation}`),
    ].join('\n');
    writeFileSync(`${runDir}/coverage.txt`, `${summary}\n\n${failures.join('\n')}\n`);
    console.log(summary);
    expect(failures, summary).toEqual([]);
  });
});
