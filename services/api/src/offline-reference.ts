import { readFileSync, writeFileSync } from 'node:fs';

// `npm run build:api-docs`, after `redocly build-docs --inlineBundle`: Redoc still shows its
// attribution logo from cdn.redoc.ly. The page must load nothing from elsewhere (the reference is
// served by the API, which may have no way out), so the logo becomes an empty inline image.
const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: node services/api/dist/offline-reference.js <api-reference.html>\n');
  process.exit(2);
}
const EMPTY_SVG = 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E';
const html = readFileSync(file, 'utf8').replace(/https:\/\/cdn\.redoc\.ly\/redoc\/logo-mini(-full)?\.svg/g, EMPTY_SVG);
writeFileSync(file, html);
