import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const lib = (name: string) => fileURLToPath(new URL(`./libs/${name}/src/index.ts`, import.meta.url));

// Tests import the libraries' sources, not their build, so a unit test never runs stale code.
// End-to-end tests start the built services (`npm test` builds first).
const alias = {
  '@presence/protocol': lib('protocol'),
  '@presence/wire-format': lib('wire-format'),
  '@presence/config': lib('config'),
  '@presence/telemetry': lib('telemetry'),
  '@presence/presence-store': lib('presence-store'),
  '@presence/client': lib('client'),
  '@presence/webhooks': lib('webhooks'),
};

// The compose stack's end-to-end test needs a Docker engine and takes minutes: only
// `npm run test:compose` (TEST_COMPOSE=1) defines its project, so `npm test` never runs it.
const composeProject = {
  resolve: { alias },
  test: {
    name: 'compose',
    include: ['test/compose/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
};

// Tests in a real browser (headless Chromium from Debian's packages): `npm run test:browser`
// (TEST_BROWSER=1). They start the built services like the end-to-end tests.
const browserProject = {
  resolve: { alias },
  test: {
    name: 'browser',
    include: ['test/browser/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
};

// One directory of recorded API answers per `vitest run` (test/support/contract-recorder.ts): the
// workers inherit this variable, and the contract project, which runs last, reads that run's answers.
process.env.PRESENCE_CONTRACT_RUN ??= `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'bench/src/**/*.test.ts', 'test/support/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // Records the API's answers for the contract project.
          setupFiles: ['test/support/contract-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // End-to-end files start several processes each; on two cores, two files at a time is the limit.
          maxWorkers: 2,
          // Unit tests (no I/O) run first, then these.
          sequence: { groupOrder: 1 },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'contract',
          include: ['test/contract/**/*.test.ts'],
          // After the integration project, in the same run: it checks the answers that project's tests got.
          sequence: { groupOrder: 2 },
        },
      },
      ...(process.env.TEST_COMPOSE === '1' ? [composeProject] : []),
      ...(process.env.TEST_BROWSER === '1' ? [browserProject] : []),
    ],
  },
});
