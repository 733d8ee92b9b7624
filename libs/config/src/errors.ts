/** Configuration is invalid; `message` is one line naming the variable, what is wrong and what was given. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';

  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
