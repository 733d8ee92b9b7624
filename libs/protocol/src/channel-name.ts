/** Longest channel name accepted, in characters (all allowed characters are one byte). */
export const MAX_CHANNEL_LENGTH = 200;

/**
 * Allowed channel names: 1 to 200 of `A-Z a-z 0-9 . _ : @ - /`. No `{`, `}`, `|`, `,`, `=` or
 * spaces: a name can't move its keys to another hash slot, nor split a stored list or an SSE cursor.
 */
export const CHANNEL_PATTERN = /^[A-Za-z0-9._:@/-]{1,200}$/;

export const CHANNEL_RULE = 'channel must be 1-200 characters of A-Z a-z 0-9 . _ : @ - /';

export function isValidChannel(value: string): boolean {
  return CHANNEL_PATTERN.test(value);
}
