import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

// Tests import the libraries' sources, not their build, so a unit test never runs stale code.
// End-to-end tests start the built services (`npm test` builds first).
const alias = {
  '@presence/protocol': lib('protocol'),
  '@presence/config': lib('config'),
  '@presence/telemetry': lib('telemetry'),
  '@presence/presence-store': lib('presence-store'),
  '@presence/client': lib('client'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'bench/src/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // End-to-end files start several processes each; on two cores, two files at a time is the limit.
          maxWorkers: 2,
          // Unit tests (no I/O) run first, then these.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
