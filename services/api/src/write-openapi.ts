import { writeFileSync } from 'node:fs';
import { apiDocument } from './api-routes.js';

// `npm run build` and `npm run lint:openapi`: writes the OpenAPI document to the path given, for
// redocly to lint and render (the API serves the same document at GET /openapi.json).
const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: node services/api/dist/write-openapi.js <file.json>\n');
  process.exit(2);
}
writeFileSync(out, `${JSON.stringify(apiDocument(), null, 2)}\n`);
