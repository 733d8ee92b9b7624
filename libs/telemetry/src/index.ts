export { createLogger, silentLogger } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { listenOrExit, listenProblem } from './listen-or-exit.js';
export type { ListenSetting } from './listen-or-exit.js';
export { createMetricsRegistry, serveMetricsOrExit, startMetricsServer } from './metrics.js';
export type { MetricsServerOptions } from './metrics.js';
export { registerRedisUpGauge } from './redis-up-gauge.js';
export { onShutdown } from './shutdown.js';
