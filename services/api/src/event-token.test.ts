import { describe, expect, it } from 'vitest';
import { EventTokens, withoutAccessToken } from './event-token.js';

describe('withoutAccessToken', () => {
  it('removes the token and keeps every other parameter', () => {
    expect(withoutAccessToken('/v1/events?access_token=abc.def&types=online')).toBe('/v1/events?types=online');
    expect(withoutAccessToken('/v1/events?types=online&access_token=abc&after=0')).toBe('/v1/events?types=online&after=0');
    expect(withoutAccessToken('/v1/events?access_token=abc')).toBe('/v1/events');
    expect(withoutAccessToken('/v1/events?access_token=a&access_token=b')).toBe('/v1/events');
  });

  it('leaves a URL without one as it is', () => {
    expect(withoutAccessToken('/v1/events')).toBe('/v1/events');
    expect(withoutAccessToken('/v1/events?types=online%2Coffline')).toBe('/v1/events?types=online%2Coffline');
  });
});

describe('EventTokens', () => {
  it('accepts its own tokens and those of a replica with the same API_TOKENS, in any order', async () => {
    const one = new EventTokens(['token-a-0123456789abcdef', 'token-b-0123456789abcdef'], 60_000);
    const other = new EventTokens(['token-b-0123456789abcdef', 'token-a-0123456789abcdef'], 60_000);
    const { token } = await one.mint();
    await expect(one.verify(token)).resolves.toBeUndefined();
    await expect(other.verify(token)).resolves.toBeUndefined();
  });

  it('refuses the tokens of a deployment with other API_TOKENS', async () => {
    const { token } = await new EventTokens(['token-a-0123456789abcdef'], 60_000).mint();
    await expect(new EventTokens(['token-c-0123456789abcdef'], 60_000).verify(token)).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    });
  });
});
