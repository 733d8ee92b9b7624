/** What a command needs from its process; main.ts provides the real ones, tests could provide others. */
export interface CliDeps {
  /** `PRESENCE_API_URL` and `PRESENCE_API_TOKEN` (only main.ts reads the environment). */
  env: { apiUrl: string | undefined; apiToken: string | undefined };
  version: string;
  /** Standard output: results, one table or JSON document, or one line per event. */
  out: (text: string) => void;
  /** Standard error: errors and notices. */
  err: (text: string) => void;
  /** Registers what to do on Ctrl-C or SIGTERM; returns a function that unregisters it. */
  onStop: (handler: () => void) => () => void;
  /** Opens what a user types while `connect` runs (each line a new state); null when there is nothing to read. */
  input: () => NodeJS.ReadableStream | null;
  /** Whether a person is watching stderr (a terminal): enables hints. */
  interactive: boolean;
}
