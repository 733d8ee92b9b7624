import { describe, expect, it } from 'vitest';
import { edgeConfigSchema } from './config.js';

const problems = (env: Record<string, string>) => {
  const result = edgeConfigSchema.safeParse(env);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
};

describe('edge config: the WebSocket settings', () => {
  it('listens for WebSocket on 7072 by default; 0 turns it off', () => {
    expect(edgeConfigSchema.parse({}).EDGE_WS_PORT).toBe(7072);
    expect(edgeConfigSchema.parse({ EDGE_WS_PORT: '0' }).EDGE_WS_PORT).toBe(0);
  });

  it('refuses the TCP port for WebSocket, naming the variable', () => {
    expect(problems({ EDGE_WS_PORT: '7070' })).toEqual(['EDGE_WS_PORT: must differ from EDGE_PORT (7070), or be 0 to turn WebSocket off']);
  });

  it('refuses an ALLOWED_ORIGINS entry that is not an origin, naming it', () => {
    expect(problems({ ALLOWED_ORIGINS: 'https://app.example.com, *' })).toEqual([]);
    expect(problems({ ALLOWED_ORIGINS: 'https://app.example.com,app.example.com/x' })).toEqual([
      'ALLOWED_ORIGINS: app.example.com/x is not an origin (scheme://host[:port]) (use * or scheme://host[:port], comma-separated)',
    ]);
  });
});
