import { describe, expect, it } from 'vitest';
import { formatEventLine, formatTime, renderTable, truncate } from './format.js';

describe('CLI formatting', () => {
  it('pads columns to the widest cell, without trailing spaces', () => {
    expect(
      renderTable(
        ['CLIENT', 'STATUS', 'STATE'],
        [
          ['alice', 'online', '{"a":1}'],
          ['bob-the-builder', 'offline', '-'],
        ],
      ),
    ).toBe('CLIENT           STATUS   STATE\n' + 'alice            online   {"a":1}\n' + 'bob-the-builder  offline  -\n');
  });

  it('prints times in UTC, with milliseconds for events, and - for none', () => {
    expect(formatTime(Date.UTC(2026, 10, 22, 3, 10, 2, 311))).toBe('2026-11-22 03:10:02 UTC');
    expect(formatTime(Date.UTC(2026, 10, 22, 3, 10, 2, 311), true)).toBe('2026-11-22 03:10:02.311 UTC');
    expect(formatTime(null)).toBe('-');
  });

  it('prints one aligned line per event', () => {
    const at = Date.UTC(2026, 10, 22, 3, 10, 2, 5);
    const base = { id: '0-1', sessionId: 's', at };
    expect(formatEventLine({ ...base, type: 'online', clientId: 'alice', node: 'edge-0', reason: null })).toBe(
      '2026-11-22 03:10:02.005 UTC  online   alice             -         edge-0',
    );
    expect(formatEventLine({ ...base, type: 'offline', clientId: 'alice', node: 'edge-0', reason: 'leave' })).toBe(
      '2026-11-22 03:10:02.005 UTC  offline  alice             leave     edge-0',
    );
  });

  it('truncates long text with an ellipsis', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});
