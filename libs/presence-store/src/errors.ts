/** A caller passed something the store can't use (an API maps it to 400). */
export class StoreInputError extends Error {
  readonly code: 'bad_cursor' | 'bad_client_id' | 'bad_channel';

  constructor(code: 'bad_cursor' | 'bad_client_id' | 'bad_channel', message: string) {
    super(message);
    this.name = 'StoreInputError';
    this.code = code;
  }
}

/**
 * A script replied in a shape its TypeScript wrapper does not expect: a Lua change without the
 * matching change in script-replies.ts (or the other way round). A bug, never bad input.
 */
export class ScriptReplyError extends Error {
  readonly code = 'bad_script_reply';
  readonly script: string;

  constructor(script: string, message: string) {
    super(`script ${script}: ${message}`);
    this.name = 'ScriptReplyError';
    this.script = script;
  }
}
