import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

// The monitoring profile's images (prom/prometheus, grafana/grafana) are not available where CI runs,
// so their config is checked here instead: promtool from Debian's `prometheus` package for the
// Prometheus side, JSON schemas for the Grafana side, and the metric names against the code.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROMETHEUS = `${ROOT}deploy/prometheus/`;
const GRAFANA = `${ROOT}deploy/grafana/`;

/**
 * Metrics the rules read that no code registers yet, and who will. The check fails once the code
 * registers one, so the entry goes when its exporter lands (presence_webhook_dead_letters went when
 * the webhooks worker did).
 */
const NOT_YET_REGISTERED: Record<string, string> = {};

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', cwd: ROOT });
  if (result.error !== undefined) throw new Error(`promtool is missing (${result.error.message}): apt-get install prometheus`);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const readYaml = (path: string): unknown => parse(readFileSync(path, 'utf8'));

interface Registration {
  name: string;
  /** Where it is registered: `services/api`, `libs/telemetry`, … */
  owner: string;
  histogram: boolean;
}

/** Every metric name registered in the services' and libraries' sources (a quoted `presence_…` name). */
function registrations(): Registration[] {
  const found: Registration[] = [];
  for (const top of ['services', 'libs']) {
    for (const pkg of readdirSync(`${ROOT}${top}`)) {
      const src = `${ROOT}${top}/${pkg}/src`;
      let files: string[];
      try {
        files = readdirSync(src, { recursive: true }).map(String);
      } catch {
        continue;
      }
      for (const file of files.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
        const text = readFileSync(join(src, file), 'utf8');
        const histograms = new Set([...text.matchAll(/new Histogram\(\{\s*name:\s*'(presence_[a-z0-9_]+)'/g)].map((m) => m[1]));
        for (const [, name] of text.matchAll(/'(presence_[a-z0-9_]+)'/g)) {
          found.push({ name: name as string, owner: `${top}/${pkg}`, histogram: histograms.has(name) });
        }
      }
    }
  }
  return found;
}

/** The metric a series name belongs to: a histogram's `_bucket`, `_count` and `_sum` are its own. */
function metricOf(series: string, registered: readonly Registration[]): string {
  const base = series.replace(/_(bucket|count|sum)$/, '');
  return registered.some((r) => r.histogram && r.name === base) ? base : series;
}

const namesIn = (expr: string): string[] => [...expr.matchAll(/\bpresence_[a-z0-9_]+/g)].map((m) => m[0]);

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}
interface Dashboard {
  uid: string;
  panels: { id: number; title: string; gridPos: { h: number; w: number; x: number; y: number }; targets: { expr: string }[] }[];
}

const alertRules = () => (readYaml(`${PROMETHEUS}alerts.yml`) as RuleFile).groups.flatMap((group) => group.rules);
const dashboardFiles = () => readdirSync(`${GRAFANA}dashboards`).filter((file) => file.endsWith('.json'));
const dashboard = (file: string) => JSON.parse(readFileSync(`${GRAFANA}dashboards/${file}`, 'utf8')) as Dashboard;
const dashboardExprs = () => dashboardFiles().flatMap((file) => dashboard(file).panels.flatMap((p) => p.targets.map((t) => t.expr)));

/** Metric names used in `exprs` that no code registers (and that are not expected to be, yet). */
function unregistered(exprs: readonly string[]): string[] {
  const registered = registrations();
  const known = new Set(registered.map((r) => r.name));
  const used = new Set(exprs.flatMap(namesIn).map((series) => metricOf(series, registered)));
  return [...used].filter((name) => !known.has(name) && NOT_YET_REGISTERED[name] === undefined).sort();
}

describe('deploy/prometheus', () => {
  it('prometheus.yml is a valid Prometheus config', () => {
    // --syntax-only: the API job's token file exists only inside the compose container.
    const result = promtool('check', 'config', '--syntax-only', `${PROMETHEUS}prometheus.yml`);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
    const config = readYaml(`${PROMETHEUS}prometheus.yml`) as { rule_files: string[] };
    expect(config.rule_files).toEqual(['alerts.yml']);
  });

  it('scrapes every process on the port compose gives it', () => {
    const config = readYaml(`${PROMETHEUS}prometheus.yml`) as {
      scrape_configs: { job_name: string; dns_sd_configs: { names: string[]; port: number }[] }[];
    };
    const compose = readYaml(`${ROOT}docker-compose.yml`) as { services: Record<string, { expose?: string[]; ports?: string[] }> };
    const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job.dns_sd_configs[0]]));
    expect(Object.keys(jobs).sort()).toEqual(['api', 'edge', 'sweeper', 'webhooks']);
    for (const [job, sd] of Object.entries(jobs)) {
      expect(sd?.names).toEqual([job]);
      const service = compose.services[job];
      const ports = [...(service?.expose ?? []), ...(service?.ports ?? []).map((p) => p.split(':').at(-1) ?? '')];
      expect(ports, `compose service ${job} must expose the scraped port`).toContain(String(sd?.port));
    }
  });

  it('alerts.yml passes promtool check rules', () => {
    const result = promtool('check', 'rules', `${PROMETHEUS}alerts.yml`);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('every rule passes its promtool unit tests (alerts.test.yml)', () => {
    const result = promtool('test', 'rules', `${PROMETHEUS}alerts.test.yml`);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('every alert has a test that fires it and one that keeps it quiet', () => {
    const cases = (readYaml(`${PROMETHEUS}alerts.test.yml`) as RuleTests).tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const rule of alertRules()) {
      const own = cases.filter((c) => c.alertname === rule.alert);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length > 0),
        `${rule.alert} has no case that fires it`,
      ).toBe(true);
      expect(
        own.some((c) => (c.exp_alerts ?? []).length === 0),
        `${rule.alert} has no case that keeps it quiet`,
      ).toBe(true);
    }
  });

  it('every metric the rules read is registered by the code', () => {
    expect(unregistered(alertRules().map((rule) => rule.expr))).toEqual([]);
  });

  it('metrics the rules expect from code not written yet are still unregistered', () => {
    const known = new Set(registrations().map((r) => r.name));
    const arrived = Object.keys(NOT_YET_REGISTERED).filter((name) => known.has(name));
    expect(arrived, 'now registered: remove them from NOT_YET_REGISTERED').toEqual([]);
  });
});

describe('deploy/grafana', () => {
  const ajv = new Ajv({ allErrors: true });
  const validate = (schema: string, value: unknown) => {
    const check = ajv.compile(JSON.parse(readFileSync(`${ROOT}test/monitoring/schemas/${schema}`, 'utf8')) as object);
    check(value);
    return check.errors ?? [];
  };
  const provisioning = (kind: 'datasources' | 'dashboards') =>
    readdirSync(`${GRAFANA}provisioning/${kind}`).map((file) => `${GRAFANA}provisioning/${kind}/${file}`);
  const datasourceUids = () =>
    provisioning('datasources').flatMap((file) => (readYaml(file) as { datasources: { uid: string }[] }).datasources.map((d) => d.uid));

  it('the provisioning files match their schema', () => {
    const files = [...provisioning('datasources'), ...provisioning('dashboards')];
    expect(files.length).toBe(2);
    for (const file of files) expect(validate('grafana-provisioning.schema.json', readYaml(file)), file).toEqual([]);
  });

  it('each dashboard matches its schema, lays its panels out in 24 columns, and uses the provisioned datasource', () => {
    expect(dashboardFiles()).toEqual(['presence.json']);
    for (const file of dashboardFiles()) {
      const board = dashboard(file);
      expect(validate('grafana-dashboard.schema.json', board), file).toEqual([]);
      expect(new Set(board.panels.map((p) => p.id)).size).toBe(board.panels.length);
      for (const panel of board.panels) expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      const uids = new Set(JSON.stringify(board).match(/"uid":"[^"]*"/g));
      uids.delete(`"uid":"${board.uid}"`);
      expect([...uids]).toEqual(datasourceUids().map((uid) => `"uid":"${uid}"`));
    }
  });

  it('every panel query is valid PromQL (promtool parses it)', () => {
    // Grafana's interval variables are not PromQL; give them the value they take at 15 s scrapes.
    const records = dashboardExprs().map((expr, i) => ({
      record: `dashboard:panel_query_${i}`,
      expr: expr.replaceAll('$__rate_interval', '1m'),
    }));
    const dir = mkdtempSync(join(tmpdir(), 'dashboard-queries-'));
    try {
      writeFileSync(join(dir, 'queries.yml'), stringify({ groups: [{ name: 'dashboard', rules: records }] }));
      const result = promtool('check', 'rules', join(dir, 'queries.yml'));
      expect(result.output).toContain(`SUCCESS: ${records.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every metric the dashboard shows is registered by the code', () => {
    expect(unregistered(dashboardExprs())).toEqual([]);
  });

  it('compose mounts the provisioning and the dashboards where Grafana and its provider look', () => {
    const compose = readYaml(`${ROOT}docker-compose.yml`) as {
      services: Record<string, { profiles?: string[]; volumes?: string[]; environment?: Record<string, string> }>;
    };
    for (const service of ['prometheus', 'grafana']) expect(compose.services[service]?.profiles).toEqual(['monitoring']);
    const mounts = Object.fromEntries(
      (compose.services.grafana?.volumes ?? []).map((v) => v.split(':').slice(0, 2).reverse() as [string, string]),
    );
    expect(mounts['/etc/grafana/provisioning']).toBe('./deploy/grafana/provisioning');
    const providerPaths = provisioning('dashboards').flatMap((file) =>
      (readYaml(file) as { providers: { options: { path: string } }[] }).providers.map((p) => p.options.path),
    );
    for (const path of providerPaths) expect(mounts[path]).toBe('./deploy/grafana/dashboards');
    const home = compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(dashboardFiles().map((file) => `${providerPaths[0]}/${file}`)).toContain(home);
    const prometheusMounts = (compose.services.prometheus?.volumes ?? []).map((v) => v.split(':').slice(0, 2).join(':'));
    expect(prometheusMounts).toContain('./deploy/prometheus:/etc/prometheus');
  });
});

describe('metric names', () => {
  it('no metric name is registered by two services (a cluster-wide sum() would count twice)', () => {
    const owners = new Map<string, Set<string>>();
    for (const { name, owner } of registrations()) owners.set(name, (owners.get(name) ?? new Set()).add(owner));
    expect([...owners].filter(([, by]) => by.size > 1).map(([name, by]) => `${name}: ${[...by].join(', ')}`)).toEqual([]);
  });

  it("the README's metrics list names every registered metric, and no other", () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const section = /^## Metrics and logs\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    const listed = new Set(namesIn(section));
    const registered = new Set(registrations().map((r) => r.name));
    expect([...registered].filter((name) => !listed.has(name)).sort(), 'registered but not in the README').toEqual([]);
    expect([...listed].filter((name) => !registered.has(name)).sort(), 'in the README but not registered').toEqual([]);
  });
});
