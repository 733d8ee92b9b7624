import { describe, expect, it } from 'vitest';
import { originAllowed, originEntryProblem, originPolicy } from './origin-policy.js';

describe('originPolicy', () => {
  it('allows every page by default without auth, and only same-host pages with auth', () => {
    const open = originPolicy(undefined, 'none');
    const strict = originPolicy(undefined, 'jwt');
    expect(originAllowed(open, 'https://evil.example', 'presence.example.com')).toBe(true);
    expect(originAllowed(strict, 'https://evil.example', 'presence.example.com')).toBe(false);
    expect(originAllowed(strict, 'https://presence.example.com:8443', 'presence.example.com:7072')).toBe(true);
  });

  it('allows listed origins and the same host, and refuses others', () => {
    const policy = originPolicy('https://app.example.com, http://localhost:3000', 'none');
    expect(originAllowed(policy, 'https://app.example.com', 'edge.internal:7072')).toBe(true);
    expect(originAllowed(policy, 'http://localhost:3000', 'edge.internal:7072')).toBe(true);
    expect(originAllowed(policy, 'http://localhost:3001', 'edge.internal:7072')).toBe(false);
    expect(originAllowed(policy, 'https://edge.internal', 'edge.internal:7072')).toBe(true);
    expect(originAllowed(policy, 'null', 'edge.internal:7072')).toBe(false);
  });

  it('does not judge clients that send no Origin (not browsers)', () => {
    expect(originAllowed(originPolicy(undefined, 'jwt'), undefined, 'edge:7072')).toBe(true);
  });

  it('treats * anywhere in the list as any origin', () => {
    expect(originPolicy('https://a.example,*', 'jwt')).toEqual({ kind: 'any' });
  });

  it('names what is wrong with an entry', () => {
    expect(originEntryProblem('https://app.example.com')).toBeNull();
    expect(originEntryProblem('https://app.example.com/path')).toMatch(/has a path/);
    expect(originEntryProblem('app.example.com')).toMatch(/not an origin/);
    expect(originEntryProblem('ftp://app.example.com')).toMatch(/not an http/);
  });
});
