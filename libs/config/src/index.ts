export { ConfigError } from './errors.js';
export { booleanVar, enumVar, hostVar, integerVar, portVar } from './env-vars.js';
export { loadConfig } from './load-config.js';
export {
  effectiveSessionTtlMs,
  eventSettings,
  livenessSettings,
  loggingSettings,
  redisSettings,
} from './shared-settings.js';
