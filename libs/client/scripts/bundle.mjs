// Builds the browser bundle of @presence/client (part of `npm run build`): one minified ES module
// with a source map, dist/browser/presence-client.js, served by the API at /sdk/presence-client.js.
// The Node-only modules are swapped for their browser stand-ins (src/*.browser.ts); the build fails
// if anything else of Node (a node: import, Buffer, process) is left in it.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/browser/presence-client.js');
const STAND_INS = /^\.\/(tcp-link|web-socket)\.js$/;

await build({
  entryPoints: [join(root, 'src/browser.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [
    {
      name: 'browser-stand-ins',
      setup(b) {
        b.onResolve({ filter: STAND_INS }, (args) => ({ path: join(args.resolveDir, args.path.replace(/\.js$/, '.browser.ts')) }));
        b.onResolve({ filter: /^node:/ }, (args) => ({
          errors: [{ text: `${args.path} (imported by ${args.importer}) does not exist in browsers` }],
        }));
      },
    },
  ],
});

const code = readFileSync(outfile, 'utf8');
const leaked = ['Buffer.', 'process.', 'require('].filter((name) => code.includes(name));
if (leaked.length > 0) throw new Error(`the browser bundle uses Node's ${leaked.join(', ')}`);
const kib = (bytes) => (bytes / 1024).toFixed(1);
console.log(`browser bundle: ${outfile} ${kib(code.length)} KiB, ${kib(gzipSync(code).length)} KiB gzipped`);
