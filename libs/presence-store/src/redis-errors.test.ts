import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import { describe, expect, it } from 'vitest';
import { isRedisUnavailable } from './redis-errors.js';

const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);
const socketError = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });

// test/integration/redis-errors.test.ts provokes the real thing from a real client; these are the
// classes and texts ioredis builds them from, for the cases a test can't easily provoke.
describe('isRedisUnavailable', () => {
  it('knows the failures of a Redis that is down, re-forming or too slow', () => {
    const unavailable: unknown[] = [
      new MaxRetriesPerRequestError(0),
      reply('CLUSTERDOWN The cluster is down'),
      reply('TRYAGAIN Multiple keys request during rehashing of slot'),
      reply('LOADING Redis is loading the dataset in memory'),
      socketError('ECONNREFUSED'),
      socketError('ECONNRESET'),
      new Error('Connection is closed.'),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
      new Error('None of startup nodes is available'),
      new Error('Command timed out'),
      new Error('Too many Cluster redirections. Last error: Error: connect ECONNREFUSED 127.0.0.1:7001'),
      new Error('All sentinels are unreachable. Retrying from scratch after 50ms. Last error: connect ECONNREFUSED 127.0.0.1:26379'),
    ];
    for (const error of unavailable) expect(isRedisUnavailable(error), String(error)).toBe(true);
  });

  it('leaves everything else alone, errors that merely mention those words included', () => {
    const other = [
      reply('ERR Error running script: user_script:12: LOADING is not a function'),
      reply('NOSCRIPT No matching script'),
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      socketError('EACCES'),
      new Error('cannot parse ECONNREFUSED from the payload'),
      new Error('Command timed out while building the reply'),
      new TypeError("Cannot read properties of undefined (reading 'LOADING')"),
      'Connection is closed.',
      null,
    ];
    for (const error of other) expect(isRedisUnavailable(error), String(error)).toBe(false);
  });
});
