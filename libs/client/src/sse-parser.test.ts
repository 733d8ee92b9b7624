import { describe, expect, it } from 'vitest';
import { SseParser } from './sse-parser.js';

describe('SseParser', () => {
  it('parses the API stream: an id-only opening message moves the last id without an event', () => {
    const parser = new SseParser();
    expect(parser.push('retry: 1000\nid: v1.4....\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('v1.4....');
    expect(parser.retryMs).toBe(1000);
    const messages = parser.push('id: v1.4.a...\nevent: online\ndata: {"clientId":"alice"}\n\n');
    expect(messages).toEqual([{ event: 'online', data: '{"clientId":"alice"}', lastEventId: 'v1.4.a...' }]);
  });

  it('handles CRLF, CR and LF line ends, also split across chunks', () => {
    const parser = new SseParser();
    const out = [
      ...parser.push('data: a\r'),
      ...parser.push('\n\r'),
      ...parser.push('\ndata: b\rdata: c\r\r'),
      ...parser.push('data: d\n'),
      ...parser.push('\n'),
    ];
    expect(out.map((m) => m.data)).toEqual(['a', 'b\nc', 'd']);
  });

  it('ignores comments, unknown fields and ids with NUL; keeps the last id across messages', () => {
    const parser = new SseParser('start');
    const out = parser.push(': keepalive\n\nfoo: bar\ndata: x\n\nid: a\0b\ndata: y\n\n');
    expect(out).toEqual([
      { event: 'message', data: 'x', lastEventId: 'start' },
      { event: 'message', data: 'y', lastEventId: 'start' },
    ]);
  });

  it('drops a leading BOM, strips one space after the colon, and takes a field without a colon as empty', () => {
    const parser = new SseParser();
    const out = parser.push('\ufeffdata:  two spaces\nevent\ndata\n\n');
    expect(out).toEqual([{ event: 'message', data: ' two spaces\n', lastEventId: '' }]);
  });

  it('reassembles a message split in the middle of a field', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\nevent: off')).toEqual([]);
    expect(parser.push('line\ndata: {"a":')).toEqual([]);
    expect(parser.push('1}\n\n')).toEqual([{ event: 'offline', data: '{"a":1}', lastEventId: '1' }]);
  });

  it('ignores a retry that is not all digits', () => {
    const parser = new SseParser();
    parser.push('retry: 10s\n\n');
    expect(parser.retryMs).toBeNull();
  });
});
