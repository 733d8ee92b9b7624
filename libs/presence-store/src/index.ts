export { ScriptReplyError, StoreInputError } from './errors.js';
export { EventCursor, compareStreamIds } from './event-cursor.js';
export type { StreamId } from './event-cursor.js';
export { CHANNEL_DEFAULTS, ChannelStore } from './channel-store.js';
export type {
  ChannelMember,
  ChannelMemberSession,
  ChannelMembersPage,
  ChannelStoreOptions,
  ChannelWrite,
  JoinStatus,
  OutboxDrain,
  OutboxDrains,
  ShardDrain,
} from './channel-store.js';
export { PresenceStore } from './presence-store.js';
export type { PresenceStoreOptions, StreamedEvent, WriteOp, WriteResult } from './presence-store.js';
export { RedisClock } from './redis-clock.js';
export {
  answersPing,
  closeRedisConnection,
  createRedisConnection,
  redisTarget,
  whenReady,
  MAX_RETRY_DELAY_MS,
} from './redis-connection.js';
export type { RedisConnectionOptions, RedisTarget } from './redis-connection.js';
export { RedisReachability } from './redis-reachability.js';
export type { ReachabilityClient, RedisReachabilityOptions } from './redis-reachability.js';
export { isRedisUnavailable } from './redis-errors.js';
// The script loader and the versioned command names, shared with libs/webhooks' scripts.
export { loadScript } from './script-loader.js';
export { defineVersionedCommand } from './scripts.js';
export type { ClientPresence, NodeView, PresenceStats, QueryResult, SessionRef, SessionView, SweepOptions, SweepResult } from './types.js';
// The wire format (libs/wire-format) is the store's too: re-exported for the services that only talk to the store.
export { CHANNEL_EVENT_TYPES, KeySpace, OFFLINE_REASONS, sessionMember } from '@presence/wire-format';
export type {
  ChannelEvent,
  ChannelEventType,
  ChannelOccupancy,
  EventType,
  OfflineReason,
  PresenceEvent,
  ShardKeys,
} from '@presence/wire-format';
