import { z } from 'zod';

/**
 * A whole number within [min, max], written in decimal digits (no `0x10`, `1e3` or blanks, which
 * would otherwise pass as numbers), with a default when the variable is unset or empty.
 */
export function integerVar(defaultValue: number, min: number, max: number = Number.MAX_SAFE_INTEGER) {
  const range = `must be a whole number between ${min} and ${max}`;
  return z
    .string()
    .regex(/^\s*-?\d{1,16}\s*$/, { error: range })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    )
    .default(defaultValue);
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

/** A switch: 1/true/yes/on or 0/false/no/off, any case. */
export function booleanVar(defaultValue: boolean) {
  return z
    .string()
    .transform((value, ctx) => {
      const word = value.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be one of true/false, 1/0, yes/no, on/off' });
      return z.NEVER;
    })
    .default(defaultValue);
}

export function enumVar<const T extends readonly [string, ...string[]]>(values: T, defaultValue: T[number]) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` }).default(defaultValue as never);
}

/** A TCP port; 0 asks the OS for a free one (useful in tests). */
export function portVar(defaultValue: number) {
  return integerVar(defaultValue, 0, 65535);
}

export function hostVar(defaultValue: string) {
  return z.string().min(1, { error: 'must not be empty' }).default(defaultValue);
}
