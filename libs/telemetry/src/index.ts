export { createLogger, silentLogger } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { createMetricsRegistry, startMetricsServer } from './metrics.js';
export { onShutdown } from './shutdown.js';
