/** Longest client id accepted, in characters (all allowed characters are one byte). */
export const MAX_CLIENT_ID_LENGTH = 128;

/**
 * Allowed client ids: 1 to 128 of `A-Z a-z 0-9 . _ : @ -`. The set excludes `{`, `}`, spaces and `|`,
 * so an id can never change which Redis hash slot a key lands in, nor split a stored member.
 */
export const CLIENT_ID_PATTERN = new RegExp(`^[A-Za-z0-9._:@-]{1,${MAX_CLIENT_ID_LENGTH}}$`);

/** The rule above as error messages state it: `clientId ${CLIENT_ID_RULE}`. */
export const CLIENT_ID_RULE = `must be 1-${MAX_CLIENT_ID_LENGTH} characters of A-Z a-z 0-9 . _ : @ -`;

export function isValidClientId(value: string): boolean {
  return CLIENT_ID_PATTERN.test(value);
}
