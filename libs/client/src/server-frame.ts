/** One frame from the server, as docs/protocol.md defines them. */
export type ServerFrame =
  | { type: 'welcome'; sessionId: string; intervalMs: number; timeoutMs: number }
  | { type: 'pong' }
  | { type: 'bye'; reason: string }
  | { type: 'err'; code: string; message: string }
  | { type: 'empty' }
  /** Anything else: a newer server's frame; it still proves the connection is alive. */
  | { type: 'unknown'; line: string };

const WELCOME = /^WELCOME (\S+) (\d+) (\d+)$/;

/** Parses one server frame (without its newline; a trailing `\r` already removed). */
export function parseServerFrame(line: string): ServerFrame {
  if (line === 'PONG') return { type: 'pong' };
  if (line === '') return { type: 'empty' };
  const space = line.indexOf(' ');
  const verb = space === -1 ? line : line.slice(0, space);
  const rest = space === -1 ? '' : line.slice(space + 1);
  switch (verb) {
    case 'WELCOME': {
      const match = WELCOME.exec(line);
      const intervalMs = Number(match?.[2]);
      const timeoutMs = Number(match?.[3]);
      if (match === null || !(intervalMs > 0) || !(timeoutMs > 0)) return { type: 'unknown', line };
      return { type: 'welcome', sessionId: match[1] as string, intervalMs, timeoutMs };
    }
    case 'BYE':
      return { type: 'bye', reason: rest };
    case 'ERR': {
      const codeEnd = rest.indexOf(' ');
      return codeEnd === -1
        ? { type: 'err', code: rest, message: '' }
        : { type: 'err', code: rest.slice(0, codeEnd), message: rest.slice(codeEnd + 1) };
    }
    default:
      return { type: 'unknown', line };
  }
}
