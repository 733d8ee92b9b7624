import type { Logger } from './logger.js';

/**
 * Wires SIGTERM and SIGINT for a service's main: the first signal runs `stop` and exits 0. A clean
 * stop needs Redis; when Redis is unreachable it must not hang the process, so after `deadlineMs`
 * the process exits 1 instead.
 */
export function onShutdown(logger: Logger, deadlineMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({}, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
