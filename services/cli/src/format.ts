import type { ChannelEvent, PresenceEvent } from '@presence/client';

/** A plain text table: a header row, columns padded to their widest cell, two spaces apart. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** `2026-11-22 03:10:02 UTC` (milliseconds too when asked), or `-` for null. */
export function formatTime(ms: number | null, withMillis = false): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withMillis ? 23 : 19)} UTC`;
}

export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One line per event for `presence watch`: time, type, client, reason, node. */
export function formatEventLine(event: PresenceEvent): string {
  return [formatTime(event.at, true), event.type.padEnd(7), event.clientId.padEnd(16), (event.reason ?? '-').padEnd(8), event.node]
    .join('  ')
    .trimEnd();
}

/** One line per channel event for `presence watch --channel`: as formatEventLine, then the channel and its occupancy after the event. */
export function formatChannelEventLine(event: ChannelEvent): string {
  const { clients } = event.occupancy;
  return [
    formatTime(event.at, true),
    event.type.padEnd(7),
    event.clientId.padEnd(16),
    (event.reason ?? '-').padEnd(8),
    event.node.padEnd(10),
    event.channel,
    `${clients} ${clients === 1 ? 'client' : 'clients'}`,
  ].join('  ');
}
