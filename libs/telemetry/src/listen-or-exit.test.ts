import { describe, expect, it } from 'vitest';
import { listenProblem } from './listen-or-exit.js';

const setting = { portVariable: 'EDGE_METRICS_PORT', port: 9101, hostVariable: 'EDGE_HOST', host: '0.0.0.0' };
/** A listen error as node:net raises it (the e2e tests get real ones from a second process). */
const listenError = (code: string) => Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });

describe('listenProblem', () => {
  it('names the port variable when the port is taken', () => {
    const line = listenProblem(listenError('EADDRINUSE'), setting);
    expect(line).toBe(
      'config: EDGE_METRICS_PORT 9101 is already in use on 0.0.0.0 (another process listens there; several on one host ' +
        'each need their own ports, see README, Scaling): set EDGE_METRICS_PORT to a free port',
    );
  });

  it('names the port variable for a privileged port', () => {
    expect(listenProblem(listenError('EACCES'), { ...setting, port: 80 })).toBe(
      'config: EDGE_METRICS_PORT 80 needs privileges this process does not have: set EDGE_METRICS_PORT to a port above 1023',
    );
  });

  it('names the host variable for an address this host does not have', () => {
    expect(listenProblem(listenError('EADDRNOTAVAIL'), { ...setting, host: '192.0.2.1' })).toBe(
      'config: EDGE_HOST 192.0.2.1 is not an address of this host: set EDGE_HOST (0.0.0.0 listens on all of them)',
    );
  });

  it('leaves other errors alone', () => {
    expect(listenProblem(new Error('boom'), setting)).toBeNull();
    expect(listenProblem(null, setting)).toBeNull();
  });
});
