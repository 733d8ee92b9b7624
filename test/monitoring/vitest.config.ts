import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:alerts`: the monitoring config (deploy/prometheus, deploy/grafana) checked with promtool
// and JSON schemas. Kept out of `npm test`, which runs before CI installs promtool (.ci/run).
export default defineConfig({
  root: fileURLToPath(new URL('../../', import.meta.url)),
  test: {
    name: 'monitoring',
    include: ['test/monitoring/**/*.test.ts'],
  },
});
