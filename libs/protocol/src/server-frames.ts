import type { ErrorCode } from './errors.js';

/** Reasons a server gives in `BYE <reason>` when it ends a session. */
export type ServerByeReason = 'timeout' | 'shutdown';

export const PONG_FRAME = Buffer.from('PONG\n');

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
