/**
 * Runs autocannon in a process of its own (so that the HTTP load generator's CPU is not the
 * orchestrator's) and answers with throughput and a latency histogram of every 2xx response,
 * kept at 1% precision rather than autocannon's whole milliseconds.
 */
import autocannon from 'autocannon';
import { LatencyHistogram } from './stats.js';

export type HttpLoadCommand =
  | {
      cmd: 'run';
      url: string;
      method: 'GET' | 'POST';
      /** GET: paths to rotate through; POST: one body for all. */
      paths: string[];
      body: string | null;
      connections: number;
      durationSeconds: number;
      /** Requests per second over all connections; 0 = as fast as it answers. */
      overallRate: number;
    }
  | { cmd: 'exit' };

export interface HttpLoadResult {
  requests: number;
  ratePerSecond: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  histogram: ReturnType<LatencyHistogram['toJSON']>;
}

async function run(command: Extract<HttpLoadCommand, { cmd: 'run' }>): Promise<HttpLoadResult> {
  const histogram = new LatencyHistogram();
  let next = 0;
  const paths = command.paths;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: command.url,
        method: command.method,
        connections: command.connections,
        duration: command.durationSeconds,
        ...(command.overallRate > 0 ? { overallRate: command.overallRate } : {}),
        ...(command.body !== null ? { body: command.body, headers: { 'content-type': 'application/json' } } : {}),
        requests: [
          {
            setupRequest: (request) => {
              if (command.method === 'GET') request.path = paths[next++ % paths.length];
              return request;
            },
          },
        ],
      },
      (error: Error | null, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) histogram.record(responseTime);
    });
  });
  return {
    requests: result.requests.total,
    ratePerSecond: result.requests.total / (result.duration || command.durationSeconds),
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    histogram: histogram.toJSON(),
  };
}

process.on('message', (message: { id: number; command: HttpLoadCommand }) => {
  const { command } = message;
  if (command.cmd === 'exit') {
    process.send?.({ id: message.id, ok: true, result: null });
    setImmediate(() => process.exit(0));
    return;
  }
  run(command).then(
    (result) => process.send?.({ id: message.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
