export { CLIENT_ID_PATTERN, MAX_CLIENT_ID_LENGTH, isValidClientId } from './client-id.js';
export { ERROR_CODES, ProtocolError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { FrameDecoder, MAX_FRAME_BYTES } from './frame-decoder.js';
export { MAX_STATE_BYTES, MAX_TOKEN_LENGTH, parseClientFrame } from './messages.js';
export type { ClientMessage } from './messages.js';
export { PONG_FRAME, byeFrame, errorFrame, welcomeFrame } from './server-frames.js';
export type { ServerByeReason } from './server-frames.js';
