/** A listener's settings: the variables that hold its port and host, named in the one-line error. */
export interface ListenSetting {
  portVariable: string;
  port: number;
  hostVariable: string;
  host: string;
}

/**
 * Opens a listener. A port that is taken, or an address this host can't bind, is a configuration
 * problem, not a crash: one line on stderr naming the variable to change, and exit code 1, as for a
 * bad value (@presence/config's loadConfigOrExit). Any other error is thrown as it is.
 */
export async function listenOrExit<T>(setting: ListenSetting, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const problem = listenProblem(error, setting);
    if (problem === null) throw error;
    process.stderr.write(`${problem}\n`);
    process.exit(1);
  }
}

/** The line `listenOrExit` prints for a listen error, or null for an error that is not the configuration's. */
export function listenProblem(error: unknown, setting: ListenSetting): string | null {
  const { portVariable, port, hostVariable, host } = setting;
  switch ((error as { code?: unknown } | null)?.code) {
    case 'EADDRINUSE':
      return (
        `config: ${portVariable} ${port} is already in use on ${host} (another process listens there; ` +
        `several on one host each need their own ports, see README, Scaling): set ${portVariable} to a free port`
      );
    case 'EACCES':
      return `config: ${portVariable} ${port} needs privileges this process does not have: set ${portVariable} to a port above 1023`;
    case 'EADDRNOTAVAIL':
      return `config: ${hostVariable} ${host} is not an address of this host: set ${hostVariable} (0.0.0.0 listens on all of them)`;
    default:
      return null;
  }
}
