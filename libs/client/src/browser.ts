/**
 * The browser bundle's entry (dist/browser/presence-client.js, built by scripts/bundle.mjs): the
 * presence client over WebSocket, the HTTP client and the SSE event iterator. Everything here runs
 * on web APIs alone (WebSocket, fetch, streams, TextEncoder); the Node-only parts (TCP, the Redis
 * stream consumer) are left out or replaced by browser stand-ins (*.browser.ts).
 */
export { DEFAULTS } from './defaults.js';
export { FATAL_SERVER_CODES, PresenceApiError, PresenceClientError } from './errors.js';
export type { PresenceClientErrorCode } from './errors.js';
export { PresenceClient, createPresenceClient } from './presence-client.js';
export type {
  ChannelReply,
  ConnectedInfo,
  DisconnectReason,
  DisconnectedInfo,
  Endpoint,
  PresenceClientEvents,
  PresenceClientOptions,
  PresenceClientStatus,
  PresenceState,
  ReconnectingInfo,
} from './presence-client.js';
export type { WebSocketConstructor, WebSocketLike } from './ws-link.js';
export { PresenceHttpClient, createHttpClient } from './http-client.js';
export type { HttpClientOptions, ListOptions } from './http-client.js';
export { EventStream } from './event-stream.js';
export type { EventStreamItem, EventStreamOptions, EventStreamRetry } from './event-stream.js';
export type {
  ChannelEvent,
  ChannelEventType,
  ChannelMemberSession,
  ChannelMembersPage,
  ChannelOccupancy,
  ClientPresence,
  ListPage,
  NodeStats,
  OfflineReason,
  PresenceEvent,
  PresenceEventType,
  PresenceStats,
  QueryResult,
  SessionView,
} from './api-types.js';
