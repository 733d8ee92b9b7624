import { ConfigError, loadConfig } from '@presence/config';
import { describe, expect, it } from 'vitest';
import { webhooksConfigSchema } from './config.js';

const load = (env: Record<string, string>) => loadConfig(webhooksConfigSchema, env);

describe('webhooks worker config', () => {
  it('has the documented defaults', () => {
    expect(load({})).toMatchObject({
      WEBHOOK_URLS: [],
      WEBHOOK_EVENTS: ['online', 'offline'],
      WEBHOOK_BATCH: 100,
      WEBHOOK_TIMEOUT_MS: 5_000,
      WEBHOOK_RETRY_FOR_MS: 86_400_000,
      WEBHOOK_BACKOFF_MS: 1_000,
      WEBHOOK_BACKOFF_MAX_MS: 30_000,
      WEBHOOK_ALLOW_PRIVATE: false,
      WEBHOOKS_METRICS_PORT: 9103,
    });
  });

  it('reads WEBHOOK_URLS with their secret and event types', () => {
    const config = load({
      WEBHOOK_URLS: 'https://a.example/h, http://b.example/',
      WEBHOOK_SECRET: 's'.repeat(16),
      WEBHOOK_EVENTS: 'offline',
    });
    expect(config.WEBHOOK_URLS).toEqual(['https://a.example/h', 'http://b.example/']);
    expect(config.WEBHOOK_EVENTS).toEqual(['offline']);
  });

  it('refuses bad settings with one line naming the variable', () => {
    const cases: [Record<string, string>, string][] = [
      [{ WEBHOOK_URLS: 'https://a.example/' }, 'config: WEBHOOK_SECRET must be set when WEBHOOK_URLS is (it signs their requests)'],
      [
        { WEBHOOK_URLS: 'ftp://a.example/', WEBHOOK_SECRET: 's'.repeat(16) },
        'config: WEBHOOK_URLS.0 must be http(s) URLs, comma-separated (got "ftp://a.example/")',
      ],
      [
        { WEBHOOK_SECRET: 'short' },
        'config: WEBHOOK_SECRET must be 16-256 printable characters without spaces (got 5 characters, not shown)',
      ],
      [{ WEBHOOK_EVENTS: 'joined' }, 'config: WEBHOOK_EVENTS.0 must be a comma-separated list of online, offline (got "joined")'],
      [{ WEBHOOK_BATCH: '251' }, 'config: WEBHOOK_BATCH must be at most 250 (got "251")'],
      [
        { WEBHOOK_BACKOFF_MS: '5000', WEBHOOK_BACKOFF_MAX_MS: '1000' },
        'config: WEBHOOK_BACKOFF_MAX_MS must be at least WEBHOOK_BACKOFF_MS (5000) (got "1000")',
      ],
    ];
    for (const [env, message] of cases) {
      try {
        load(env);
        expect.unreachable(JSON.stringify(env));
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toBe(message);
      }
    }
  });
});
