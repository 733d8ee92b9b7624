import type { ChannelNackCode, ErrorCode } from './errors.js';

/**
 * Reasons a server gives in `BYE <reason>` when it ends a session (docs/protocol.md): `timeout` (the
 * client was silent), `shutdown` (the node is stopping), `moved` (the node lost Redis while the rest
 * of the system still reaches it: reconnect elsewhere at once).
 */
export type ServerByeReason = 'timeout' | 'shutdown' | 'moved';

export const PONG_FRAME = /* @__PURE__ */ Buffer.from('PONG\n');

export function welcomeFrame(sessionId: string, heartbeatIntervalMs: number, timeoutMs: number): string {
  return `WELCOME ${sessionId} ${heartbeatIntervalMs} ${timeoutMs}\n`;
}

export function errorFrame(code: ErrorCode, message: string): string {
  // A message is one line: a newline inside it would start a new frame.
  return `ERR ${code} ${message.replace(/[\r\n]+/g, ' ')}\n`;
}

export function byeFrame(reason: ServerByeReason): string {
  return `BYE ${reason}\n`;
}

/**
 * A channel request took effect in Redis: `JOINED`, `LEFT` or `UPDATED` (for SET), with the
 * channel's occupancy right after it (clients, then sessions).
 */
export function channelAckFrame(verb: 'JOINED' | 'LEFT' | 'UPDATED', channel: string, clients: number, sessions: number): string {
  return `${verb} ${channel} ${clients} ${sessions}\n`;
}

export function nackFrame(channel: string, code: ChannelNackCode, message: string): string {
  return `NACK ${channel} ${code} ${message.replace(/[\r\n]+/g, ' ')}\n`;
}
