export { ConfigError } from './errors.js';
export { booleanVar, enumVar, hostVar, integerVar, portVar } from './env-vars.js';
export { loadConfig, loadConfigOrExit } from './load-config.js';
export {
  effectiveSessionTtlMs,
  eventSettings,
  livenessSettings,
  loggingSettings,
  redisSettings,
  NODE_ID_PATTERN,
  nodeSettings,
  webhookSettings,
} from './shared-settings.js';
