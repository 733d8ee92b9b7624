/**
 * `JSON.stringify(strings)` written straight into a Buffer. A refresh carries every member an edge
 * holds (~50 bytes each, 900 KB at 18,000 sessions every SESSION_REFRESH_MS); built as JS strings,
 * that payload filled the young generation mid-refresh and was promoted with everything in flight,
 * growing the old generation between major GCs. Members (`<hex id>|<client id>`, ids validated)
 * need no escaping; one that would is encoded by JSON.stringify all the same.
 */
export function jsonArrayBuffer(strings: readonly string[]): Buffer {
  const parts: string[] | null = strings.some(needsEscape) ? strings.map((value) => JSON.stringify(value).slice(1, -1)) : null;
  const items = parts ?? strings;
  let length = 2 + Math.max(0, items.length - 1);
  for (const item of items) length += Buffer.byteLength(item) + 2;
  const buffer = Buffer.allocUnsafe(length);
  let offset = buffer.write('[', 0, 'latin1');
  items.forEach((item, index) => {
    if (index > 0) offset += buffer.write(',', offset, 'latin1');
    offset += buffer.write('"', offset, 'latin1');
    offset += buffer.write(item, offset);
    offset += buffer.write('"', offset, 'latin1');
  });
  buffer.write(']', offset, 'latin1');
  return buffer;
}

function needsEscape(value: string): boolean {
  // Quote, backslash, control characters and lone surrogates: what JSON.stringify escapes.
  return /["\\\u0000-\u001f\ud800-\udfff]/.test(value);
}
