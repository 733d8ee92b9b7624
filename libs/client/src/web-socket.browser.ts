import type { WebSocketConstructor } from './ws-link.js';

/** The browser's own WebSocket. */
export const defaultWebSocket: WebSocketConstructor | null = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? null;
