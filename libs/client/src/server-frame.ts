/** One frame from the server, as docs/protocol.md defines them. */
export type ServerFrame =
  | { type: 'welcome'; sessionId: string; intervalMs: number; timeoutMs: number }
  | { type: 'pong' }
  | { type: 'bye'; reason: string }
  | { type: 'err'; code: string; message: string }
  | { type: 'empty' }
  /** The answer to JOIN, LEAVE or SET: done (with the channel's occupancy after it), or refused. */
  | { type: 'channel'; result: 'joined' | 'left' | 'updated'; channel: string; clients: number; sessions: number }
  | { type: 'nack'; channel: string; code: string; message: string }
  /** Anything else: a newer server's frame; it still proves the connection is alive. */
  | { type: 'unknown'; line: string };

const WELCOME = /^WELCOME (\S+) (\d+) (\d+)$/;
const CHANNEL_ACK = /^(JOINED|LEFT|UPDATED) (\S+) (\d+) (\d+)$/;
const NACK = /^NACK (\S+) (\S+) ?(.*)$/;
const ACK_RESULTS = { JOINED: 'joined', LEFT: 'left', UPDATED: 'updated' } as const;

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
    case 'JOINED':
    case 'LEFT':
    case 'UPDATED': {
      const match = CHANNEL_ACK.exec(line);
      if (match === null) return { type: 'unknown', line };
      const result = ACK_RESULTS[match[1] as keyof typeof ACK_RESULTS];
      return { type: 'channel', result, channel: match[2] as string, clients: Number(match[3]), sessions: Number(match[4]) };
    }
    case 'NACK': {
      const match = NACK.exec(line);
      if (match === null) return { type: 'unknown', line };
      return { type: 'nack', channel: match[1] as string, code: match[2] as string, message: match[3] as string };
    }
    default:
      return { type: 'unknown', line };
  }
}
