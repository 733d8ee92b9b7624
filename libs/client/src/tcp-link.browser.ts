import { PresenceClientError } from './errors.js';
import type { Endpoint, Link, LinkHandlers } from './link.js';
import type { CreateConnection } from './tcp-link.js';

/** The browser bundle's stand-in for tcp-link.ts: browsers cannot open TCP connections. */
export function openTcpLink(_endpoint: Endpoint, _handlers: LinkHandlers, _createConnection?: CreateConnection): Link {
  throw new PresenceClientError(
    'bad_argument',
    'browsers cannot open TCP connections: give `url` (ws:// or wss://) instead of host and port',
  );
}
