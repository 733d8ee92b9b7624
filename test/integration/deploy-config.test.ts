import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeFlags, type ServiceName } from '../support/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('docker-compose.yml', () => {
  const compose = readFileSync(`${ROOT}docker-compose.yml`, 'utf8');

  // Tests and the bench start services with their package's `nodeFlags`; compose must run the same.
  it.each<ServiceName>(['edge', 'sweeper', 'api'])('runs %s with the Node flags the tests and the bench use', (service) => {
    const line = compose.split('\n').find((l) => l.includes(`"services/${service}/dist/main.js"`) && l.trim().startsWith('command:'));
    expect(line, `a command line for ${service}`).toBeDefined();
    const command = JSON.parse((line as string).trim().slice('command:'.length)) as string[];
    expect(command).toEqual(['node', ...nodeFlags(service), `services/${service}/dist/main.js`]);
  });
});
