import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiConfigSchema } from '../../services/api/src/config.js';
import { edgeConfigSchema } from '../../services/edge/src/config.js';
import { nodeFlags, type ServiceName } from '../support/stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Manifest {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
}

const manifest = (dir: string) => JSON.parse(readFileSync(`${ROOT}${dir}/package.json`, 'utf8')) as Manifest;

interface ComposeFile {
  services: Record<
    string,
    { command?: string[]; depends_on?: string[] | Record<string, unknown>; environment?: Record<string, string>; expose?: string[] }
  >;
}

const dependsOn = (service: { depends_on?: string[] | Record<string, unknown> } | undefined) =>
  Array.isArray(service?.depends_on) ? service.depends_on : Object.keys(service?.depends_on ?? {});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as ComposeFile;

  // Tests and the bench start services with their package's `nodeFlags`; compose must run the same.
  it.each<ServiceName>(['edge', 'sweeper', 'api', 'webhooks'])('runs %s with the Node flags the tests and the bench use', (service) => {
    expect(compose.services[service]?.command).toEqual(['node', ...nodeFlags(service), `services/${service}/dist/main.js`]);
  });

  // Compose stops a service after those that depend on it: lb must outlive the edges so their
  // `BYE shutdown` reaches the clients (test/compose checks it for real).
  it('stops the load balancer after the edges', () => {
    expect(dependsOn(compose.services.edge)).toContain('lb');
    expect(dependsOn(compose.services.lb)).not.toContain('edge');
  });

  // An edge cut off from Redis alone asks the API whether Redis is up, and HAProxy must stop sending
  // it clients: it checks the readiness the edge serves on its metrics port (edge config defaults).
  it('gives the edges the API as witness, and HAProxy checks their readiness', () => {
    const edgeDefaults = edgeConfigSchema.parse({});
    expect(compose.services.edge?.environment?.REDIS_WITNESS_URL).toBe(`http://api:${apiConfigSchema.parse({}).API_PORT}/readyz`);
    expect(compose.services.edge?.expose).toContain(String(edgeDefaults.EDGE_METRICS_PORT));
    const haproxy = readFileSync(`${ROOT}deploy/haproxy/haproxy.cfg`, 'utf8');
    expect(haproxy).toMatch(/^\s+http-check send meth GET uri \/readyz$/m);
    expect(haproxy).toMatch(
      new RegExp(`^\\s+server-template edge \\d+ edge:${edgeDefaults.EDGE_PORT} check port ${edgeDefaults.EDGE_METRICS_PORT} `, 'm'),
    );
    // WebSocket clients the same way, on their own port.
    expect(compose.services.edge?.expose).toContain(String(edgeDefaults.EDGE_WS_PORT));
    expect(haproxy).toMatch(new RegExp(`^\\s+bind :${edgeDefaults.EDGE_WS_PORT}$`, 'm'));
    expect(haproxy).toMatch(
      new RegExp(`^\\s+server-template edge-ws \\d+ edge:${edgeDefaults.EDGE_WS_PORT} check port ${edgeDefaults.EDGE_METRICS_PORT} `, 'm'),
    );
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, 'utf8');
  const workspaces = manifest('.').workspaces ?? [];
  const dirOf = new Map(workspaces.map((dir) => [manifest(dir).name, dir]));

  // `npm ci` reads the lock file, which names every workspace: a manifest left out fails the build.
  it('copies the manifest of every workspace before `npm ci`', () => {
    const copied = [...dockerfile.matchAll(/^COPY (\S+)\/package\.json \1\/$/gm)].map((m) => m[1]);
    expect(copied.sort()).toEqual([...workspaces].sort());
  });

  // The runtime image gets the services installed by `npm ci -w ...`; each needs the dist/ of every
  // workspace it depends on, directly or not.
  it('puts in the runtime image the build of every workspace the installed services depend on', () => {
    // Instructions with their continuation lines joined.
    const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n');
    const install = instructions.find((line) => line.includes('npm ci --omit=dev')) ?? '';
    const services = [...install.matchAll(/-w (\S+)/g)].map((m) => m[1] as string);
    expect(services.length).toBeGreaterThan(0);
    const needed = new Set<string>();
    const visit = (name: string) => {
      const dir = dirOf.get(name);
      if (dir === undefined || needed.has(dir)) return;
      needed.add(dir);
      for (const dep of Object.keys(manifest(dir).dependencies ?? {})) visit(dep);
    };
    services.forEach(visit);
    const shipped = (/for w in ([^;]+); do/.exec(instructions.join('\n'))?.[1] ?? '').trim().split(/\s+/);
    expect(shipped.sort()).toEqual([...needed].sort());
  });
});
