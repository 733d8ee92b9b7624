import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sessionMember } from '@presence/wire-format';
import { sessionMembersJson } from './members-json.js';
import type { SessionRef } from './types.js';

const json = (sessions: readonly SessionRef[]) => JSON.stringify(sessions.map((s) => sessionMember(s.sessionId, s.clientId)));

describe('sessionMembersJson', () => {
  it('writes the bytes of JSON.stringify of the sessions deadline members', () => {
    const sessions = [
      { sessionId: '0123456789abcdef0123', clientId: 'alice' },
      { sessionId: 'ffffffffffffffffffff', clientId: 'bob.smith@example.com:phone-1' },
    ];
    expect(sessionMembersJson(sessions).toString('utf8')).toBe(json(sessions));
    expect(sessionMembersJson([]).toString('utf8')).toBe('[]');
  });

  it('writes only the sessions of the range it is given', () => {
    const sessions = ['a', 'b', 'c', 'd'].map((id) => ({ sessionId: id, clientId: `client-${id}` }));
    expect(sessionMembersJson(sessions, 1, 3).toString('utf8')).toBe(json(sessions.slice(1, 3)));
    expect(sessionMembersJson(sessions, 2, 2).toString('utf8')).toBe('[]');
  });

  it('matches JSON.stringify for any ids, escapes and non-ASCII included', () => {
    const session = fc.record({ sessionId: fc.string({ unit: 'binary' }), clientId: fc.string({ unit: 'binary' }) });
    fc.assert(
      fc.property(fc.array(session, { maxLength: 20 }), (sessions) => {
        expect(sessionMembersJson(sessions).equals(Buffer.from(json(sessions), 'utf8'))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
