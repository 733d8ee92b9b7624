import { describe, expect, it } from 'vitest';
import { parseServerFrame } from './server-frame.js';

describe('parseServerFrame', () => {
  it('parses every server frame of docs/protocol.md', () => {
    expect(parseServerFrame('WELCOME 8d1c0a5e9f7b3c2d4e6f 10000 30000')).toEqual({
      type: 'welcome',
      sessionId: '8d1c0a5e9f7b3c2d4e6f',
      intervalMs: 10_000,
      timeoutMs: 30_000,
    });
    expect(parseServerFrame('PONG')).toEqual({ type: 'pong' });
    expect(parseServerFrame('BYE shutdown')).toEqual({ type: 'bye', reason: 'shutdown' });
    expect(parseServerFrame('ERR bad_client_id clientId must be 1-128 characters')).toEqual({
      type: 'err',
      code: 'bad_client_id',
      message: 'clientId must be 1-128 characters',
    });
    expect(parseServerFrame('ERR unauthorized')).toEqual({ type: 'err', code: 'unauthorized', message: '' });
    expect(parseServerFrame('')).toEqual({ type: 'empty' });
  });

  it('treats a malformed WELCOME or an unknown verb as unknown (a newer server), not as an error', () => {
    expect(parseServerFrame('WELCOME abc 0 30000').type).toBe('unknown');
    expect(parseServerFrame('WELCOME abc ten 30000').type).toBe('unknown');
    expect(parseServerFrame('NOTICE maintenance at 10:00')).toEqual({ type: 'unknown', line: 'NOTICE maintenance at 10:00' });
  });
});
