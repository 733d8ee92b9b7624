export { StoreInputError } from './errors.js';
export { EventCursor, STREAM_START, compareStreamIds } from './event-cursor.js';
export type { StreamId } from './event-cursor.js';
export { KeySpace, sessionMember } from './keys.js';
export type { ShardKeys } from './keys.js';
export { PresenceStore } from './presence-store.js';
export type { PresenceStoreOptions, StreamedEvent, WriteOp, WriteResult } from './presence-store.js';
export { createRedisConnection, isCluster, logRedisErrors, whenReady } from './redis-connection.js';
export type { RedisConnectionOptions } from './redis-connection.js';
export { SCRIPT_FILES, commandName, loadScriptSource } from './scripts.js';
export { EVENT_TYPES, OFFLINE_REASONS } from './types.js';
export type {
  ClientPresence,
  EventType,
  NodeView,
  OfflineReason,
  PresenceEvent,
  PresenceStats,
  QueryResult,
  SessionView,
  SweepOptions,
  SweepResult,
} from './types.js';
