/** A stream entry's field list (`[field, value, field, value, …]`, as XRANGE gives it) as a map. */
export function streamFieldMap(fields: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(String(fields[i]), String(fields[i + 1]));
  return map;
}
