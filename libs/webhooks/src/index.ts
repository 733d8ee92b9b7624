export { addressRange, checkLiteralTarget, checkPublicTarget, guardedLookup, isPublicAddress } from './address-guard.js';
export {
  MAX_ENDPOINT_CHANNELS,
  WEBHOOK_EVENT_TYPES,
  decodeEndpoint,
  encodeEndpoint,
  endpointWants,
  isChannelEvent,
  outgoingEvent,
  takesPresenceEvents,
} from './endpoint.js';
export type { EndpointFilter, EndpointSource, WebhookEndpoint, WebhookEvent, WebhookEventType } from './endpoint.js';
export { AddressRefusedError, WebhookInputError } from './errors.js';
export { MAX_EVENT_IDS_BYTES, WebhookStore } from './webhook-store.js';
export type {
  Batch,
  BatchPosition,
  DeadLetter,
  FanOutResult,
  LaneStats,
  OutgoingEvent,
  QueuedEvent,
  WebhookNotice,
  WebhookStoreOptions,
} from './webhook-store.js';
