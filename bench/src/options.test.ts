import { describe, expect, it } from 'vitest';
import { parseOptions, SCENARIOS } from './options.js';

describe('parseOptions', () => {
  it('runs every scenario three times by default and once with --quick', () => {
    const full = parseOptions([]);
    expect(full).toMatchObject({ quick: false, runs: 3, scenarios: [...SCENARIOS], mosquitto: true, sweepers: 1, sweepBatch: null });
    expect(parseOptions(['--quick'])).toMatchObject({ quick: true, runs: 1 });
    expect(parseOptions(['--quick', '--runs', '2']).runs).toBe(2);
  });

  it('takes a subset of scenarios, a label safe for a file name and the sweep overrides', () => {
    const options = parseOptions([
      '--scenarios',
      'sweep, api',
      '--label',
      'a b/c',
      '--sweep-batch',
      '500',
      '--sweepers',
      '2',
      '--no-mosquitto',
    ]);
    expect(options).toMatchObject({ scenarios: ['sweep', 'api'], label: 'a-b-c', sweepBatch: 500, sweepers: 2, mosquitto: false });
  });

  it('rejects bad input with a message naming it', () => {
    expect(() => parseOptions(['--scenarios', 'idle,fast'])).toThrow(/unknown scenario fast/);
    expect(() => parseOptions(['--runs', '0'])).toThrow(/--runs must be a positive integer \(got "0"\)/);
    expect(() => parseOptions(['--runs'])).toThrow(/--runs needs a value/);
    expect(() => parseOptions(['--fast'])).toThrow(/unknown argument --fast/);
  });
});

describe('--edge-node-flags', () => {
  it('replaces the edge package’s flags for an A/B run; "" runs plain node', () => {
    expect(parseOptions([]).edgeNodeFlags).toBeNull();
    expect(parseOptions(['--edge-node-flags', '--optimize-for-size  --max-semi-space-size=4']).edgeNodeFlags).toEqual([
      '--optimize-for-size',
      '--max-semi-space-size=4',
    ]);
    expect(parseOptions(['--edge-node-flags', '']).edgeNodeFlags).toEqual([]);
    expect(() => parseOptions(['--edge-node-flags', 'optimize'])).toThrow(/--edge-node-flags takes node flags/);
  });
});
