// ESLint (flat config) with typescript-eslint's type-aware rules: promises that are neither awaited nor
// handled, promises passed where a callback's result is ignored, and `any` leaking into typed code.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'bench/results/**', 'examples/**', 'deploy/**'],
  },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each package's tsconfig leaves its *.test.ts to test/tsconfig.json, which type-checks every test.
        project: [
          'libs/*/tsconfig.json',
          'services/*/tsconfig.json',
          'services/api/dashboard/tsconfig.json',
          'bench/tsconfig.json',
          'test/tsconfig.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Express error handlers and interface-shaped fakes must take arguments they don't use: name them `_x`.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // An async method without `await` is how a fake or a synchronous step implements a Promise-returning
      // interface; the promise rules above catch the mistakes this one would.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Vitest types its asymmetric matchers (`expect.any(Number)`, `expect.stringContaining(...)`) as `any`,
    // and a test places them where the real value goes; the other no-unsafe rules still apply to tests.
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    // The dashboard page runs in a browser (services/api/dashboard/tsconfig.json has the DOM types).
    files: ['services/api/dashboard/src/**/*.ts'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
);
