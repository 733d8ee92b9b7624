// Builds the dashboard page (README, "Dashboard") into services/api/dist/dashboard/, which the API
// serves at GET /dashboard: one script and one stylesheet bundled by esbuild (uPlot included), no CDN.
// `npm run build` runs it after tsc; `node services/api/dashboard/build.mjs --watch` rebuilds on change.
import { copyFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outdir = here('../dist/dashboard/');

const options = {
  entryPoints: { app: here('src/main.ts') },
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: 'linked',
  outdir,
  logLevel: 'warning',
};

await mkdir(outdir, { recursive: true });
await copyFile(here('src/index.html'), `${outdir}index.html`);
if (process.argv.includes('--watch')) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
