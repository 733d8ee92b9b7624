import { describe, expect, it } from 'vitest';
import { apiDocument } from '../../services/api/src/api-routes.js';
import { ContractChecker } from '../support/contract-check.js';
import type { RecordedResponse } from '../support/contract-recorder.js';

// The checker itself: it must fail what the document does not describe, or the contract test proves nothing.
const checker = new ContractChecker(apiDocument());
const answer = (over: Partial<RecordedResponse>): RecordedResponse => ({
  kind: 'json',
  method: 'GET',
  path: '/v1/stats',
  status: 200,
  contentType: 'application/json; charset=utf-8',
  body: { onlineClients: 1, sessions: 1, nodes: [{ node: 'edge-1', sessions: 1, lastSeenAt: 1, alive: true }] },
  file: 'test',
  ...over,
});

describe('ContractChecker', () => {
  it('accepts an answer as documented', () => {
    expect(checker.check(answer({}))).toEqual({ ok: true, operation: 'GET /v1/stats 200' });
  });

  it('fails a field the document does not name', () => {
    const verdict = checker.check(answer({ body: { onlineClients: 1, sessions: 1, nodes: [], extra: true } }));
    expect(verdict).toMatchObject({ ok: false, problem: expect.stringContaining('additional properties') });
  });

  it('fails a missing or mistyped field, deep in the body', () => {
    expect(checker.check(answer({ body: { onlineClients: 1, nodes: [] } }))).toMatchObject({ ok: false });
    const nested = { onlineClients: 1, sessions: 1, nodes: [{ node: 'edge-1', sessions: '1', lastSeenAt: 1, alive: true }] };
    expect(checker.check(answer({ body: nested }))).toMatchObject({ ok: false, problem: expect.stringContaining('/nodes/0/sessions') });
  });

  it('fails a route, a method or a status the document does not have', () => {
    expect(checker.check(answer({ path: '/v1/nowhere', status: 200 }))).toMatchObject({ ok: false });
    expect(checker.check(answer({ method: 'DELETE' }))).toMatchObject({ ok: false });
    expect(checker.check(answer({ status: 418 }))).toMatchObject({ ok: false, problem: expect.stringContaining('418') });
  });

  it('fails an error code the operation does not list, and takes the ones it does', () => {
    const error = (code: string) => answer({ path: '/v1/presence/bad%7Bid%7D', status: 400, body: { error: { code, message: 'm' } } });
    expect(checker.check(error('bad_client_id'))).toMatchObject({ ok: true, operation: 'GET /v1/presence/{clientId} 400' });
    expect(checker.check(error('bad_cursor'))).toMatchObject({ ok: false });
  });

  it("takes the API's 404 not_found (or /v1's 401) for an unknown route, and nothing else there", () => {
    const notFound = { error: { code: 'not_found', message: 'no such route' } };
    expect(checker.check(answer({ path: '/v1/nowhere', status: 404, body: notFound }))).toMatchObject({ ok: true });
    const unauthorized = { error: { code: 'unauthorized', message: 'a token' } };
    expect(checker.check(answer({ path: '/v1/nowhere', status: 401, body: unauthorized }))).toMatchObject({ ok: true });
    expect(checker.check(answer({ path: '/nowhere', status: 401, body: unauthorized }))).toMatchObject({ ok: false });
    expect(checker.check(answer({ path: '/v1/nowhere', status: 404, body: { error: { code: 'other', message: '' } } }))).toMatchObject({
      ok: false,
    });
  });

  it('matches a path as express routes it: by method first, case-insensitive, a trailing slash ignored', () => {
    const presence = { clientId: 'query', online: false, onlineSince: null, sessions: [], lastSeenAt: null };
    expect(checker.check(answer({ path: '/v1/presence/query', body: presence }))).toMatchObject({
      ok: true,
      operation: 'GET /v1/presence/{clientId} 200',
    });
    expect(checker.check(answer({ path: '/v1/stats/' }))).toMatchObject({ ok: true, operation: 'GET /v1/stats 200' });
    expect(checker.check(answer({ path: '/V1/Stats' }))).toMatchObject({ ok: true, operation: 'GET /v1/stats 200' });
  });

  it("takes the body parser's errors anywhere, as the document says, and no other code", () => {
    const error = (code: string) => ({ error: { code, message: 'm' } });
    expect(checker.check(answer({ method: 'PATCH', status: 400, body: error('bad_json') }))).toMatchObject({ ok: true });
    expect(checker.check(answer({ method: 'PATCH', status: 413, body: error('body_too_large') }))).toMatchObject({ ok: true });
    expect(checker.check(answer({ status: 415, body: error('bad_request') }))).toMatchObject({ ok: true, operation: 'GET /v1/stats 415' });
    expect(checker.check(answer({ method: 'PATCH', status: 400, body: error('bad_client_id') }))).toMatchObject({ ok: false });
  });

  it('checks SSE frames against the event schema', () => {
    const event = { id: '0-1-0', type: 'online', clientId: 'a', sessionId: 's', node: 'n', reason: null, at: 1 };
    const frame = (value: Record<string, unknown>) => checker.check({ kind: 'sse', path: '/v1/events', frame: value, file: 'test' });
    expect(frame({ id: 'c', event: 'online', data: event })).toMatchObject({ ok: true });
    expect(frame({ retry: 1000, id: 'c' })).toMatchObject({ ok: true });
    expect(frame({ id: 'c', event: 'online', data: { ...event, type: 'sideways' } })).toMatchObject({ ok: false });
    expect(frame({ id: 'c', event: 'online', data: { ...event, extra: 1 } })).toMatchObject({ ok: false });
  });
});
