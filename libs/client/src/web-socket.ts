import WebSocket from 'ws';
import type { WebSocketConstructor } from './ws-link.js';

/** Node's WebSocket (Node ≥ 22), else the `ws` package (Node 20). The browser bundle uses web-socket.browser.ts. */
export const defaultWebSocket: WebSocketConstructor | null = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? WebSocket;
