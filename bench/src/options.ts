export const SCENARIOS = [
  'idle',
  'idle-ws',
  'writes',
  'throughput',
  'detection',
  'sweep',
  'api',
  'webhooks',
  'ceiling',
  'channels',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  quick: boolean;
  runs: number;
  scenarios: ScenarioName[];
  /** Run edges, sweepers and the API with --cpu-prof; profiles land in bench/results/profiles/<label>/. */
  profile: boolean;
  mosquitto: boolean;
  /** Label for this run's result files (default: the date and time). */
  label: string;
  /** Override of the sweeper's SWEEP_BATCH for the sweep scenario (default: the service default). */
  sweepBatch: number | null;
  sweepers: number;
  /** Node flags for edge processes instead of services/edge/package.json `nodeFlags` (A/B runs); null: the package's. */
  edgeNodeFlags: string[] | null;
}

const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--scenarios ${SCENARIOS.join(',')}]
                       [--profile] [--no-mosquitto] [--label NAME] [--sweep-batch N] [--sweepers N]
                       [--edge-node-flags "FLAGS"]

  --quick        small smoke run (CI): every scenario at small sizes, one run, no target checks
  --runs N       repeat each scenario N times and report medians (default 3; 1 with --quick)
  --scenarios    comma-separated subset (default: all)
  --profile      run edge, sweeper, API and webhooks processes with node --cpu-prof (bench/results/profiles/)
  --no-mosquitto skip the Mosquitto baseline even if the binary exists
  --sweep-batch  SWEEP_BATCH for the sweep scenario (default: the sweeper's own default)
  --sweepers     sweeper processes in the sweep scenario (default 1)
  --edge-node-flags
                 node flags for edge processes instead of the edge package's nodeFlags
                 (for A/B runs; "" runs plain node)
  REDIS_URL      use this Redis instead of starting one (figures then include whatever else it serves)`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    quick: false,
    runs: 0,
    scenarios: [...SCENARIOS],
    profile: false,
    mosquitto: true,
    label: new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, ''),
    sweepBatch: null,
    sweepers: 1,
    edgeNodeFlags: null,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    switch (arg) {
      case '--quick':
        options.quick = true;
        break;
      case '--runs':
        options.runs = positive(arg, value());
        break;
      case '--scenarios': {
        const names = value()
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
        for (const name of names)
          if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario ${name}\n${USAGE}`);
        options.scenarios = names as ScenarioName[];
        break;
      }
      case '--profile':
        options.profile = true;
        break;
      case '--no-mosquitto':
        options.mosquitto = false;
        break;
      case '--label':
        options.label = value().replace(/[^A-Za-z0-9._-]/g, '-');
        break;
      case '--sweep-batch':
        options.sweepBatch = positive(arg, value());
        break;
      case '--sweepers':
        options.sweepers = positive(arg, value());
        break;
      case '--edge-node-flags':
        options.edgeNodeFlags = value()
          .split(' ')
          .filter((flag) => flag !== '');
        for (const flag of options.edgeNodeFlags)
          if (!flag.startsWith('--'))
            throw new Error(`--edge-node-flags takes node flags such as --optimize-for-size (got "${flag}")\n${USAGE}`);
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  if (options.runs === 0) options.runs = options.quick ? 1 : 3;
  return options;
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
}
