export { KeySpace, SESSION_MEMBER_SEPARATOR, sessionMember } from './key-space.js';
export type { ShardKeys } from './key-space.js';
export {
  EVENT_TYPES,
  OFFLINE_REASONS,
  eventFromMessage,
  eventFromStreamFields,
  eventId,
  eventWrittenAt,
  parseEventId,
} from './presence-event.js';
export type { EventType, OfflineReason, PresenceEvent } from './presence-event.js';
export {
  WEBHOOK_CONSUMER_GROUP,
  WEBHOOK_ID_PATTERN,
  webhookChannelKeys,
  webhookKeys,
  webhookLaneKeys,
  webhookShardKeys,
} from './webhook-keys.js';
export type { WebhookKeys, WebhookLaneKeys, WebhookSourceKeys, WebhookSourceStream } from './webhook-keys.js';
export { channelKeys } from './channel-keys.js';
export { streamFieldMap } from './stream-fields.js';
export type { ChannelKeys } from './channel-keys.js';
export {
  CHANNEL_EVENT_TYPES,
  CHANNEL_LEAVE_REASONS,
  channelEventFromMessage,
  channelEventFromStreamFields,
  channelEventRef,
  encodeChannelEvent,
  formatChannelCursor,
  parseChannelCursor,
} from './channel-event.js';
export type { ChannelEvent, ChannelEventType, ChannelLeaveReason, ChannelOccupancy } from './channel-event.js';
