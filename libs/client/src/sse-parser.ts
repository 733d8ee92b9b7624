/** One dispatched Server-Sent Events message. */
export interface SseMessage {
  /** The `event:` field, or `message` when there was none. */
  event: string;
  data: string;
  /** The last event id at the time of this message (the stream's, not necessarily set by this message). */
  lastEventId: string;
}

/**
 * An incremental parser of the `text/event-stream` format as the HTML standard defines it
 * ("Server-sent events", §9.2.6): lines end in CRLF, LF or CR (also split across chunks); `:`
 * starts a comment; a leading BOM is dropped; `id` without NUL sets the last event id, and a
 * message with an id but no data still moves it (as EventSource does); `retry` with only digits
 * sets the reconnection time; a message without data is not dispatched.
 */
export class SseParser {
  /** The last event id seen, '' before any. */
  lastEventId: string;
  /** The reconnection time the server asked for with `retry:`, or null. */
  retryMs: number | null = null;
  private buffer = '';
  private started = false;
  private skipLf = false;
  private data: string[] = [];
  private eventType = '';
  private idBuffer: string;

  /** `lastEventId`: where an earlier connection of the same stream left off (EventSource keeps it across reconnects). */
  constructor(lastEventId = '') {
    this.lastEventId = lastEventId;
    this.idBuffer = lastEventId;
  }

  /** Feeds decoded text; returns the messages it completed, in order. */
  push(chunk: string): SseMessage[] {
    let text = chunk;
    if (text.length === 0) return [];
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    const messages: SseMessage[] = [];
    this.buffer += text;
    let start = 0;
    const lineEnd = /[\r\n]/g;
    for (;;) {
      lineEnd.lastIndex = start;
      const found = lineEnd.exec(this.buffer);
      if (found === null) break;
      const end = found.index;
      const line = this.buffer.slice(start, end);
      start = end + 1;
      if (this.buffer[end] === '\r') {
        // CRLF is one line end; a CR that ends the chunk may have its LF at the start of the next.
        if (start === this.buffer.length) this.skipLf = true;
        else if (this.buffer[start] === '\n') start += 1;
      }
      const message = this.line(line);
      if (message !== null) messages.push(message);
    }
    this.buffer = this.buffer.slice(start);
    return messages;
  }

  private line(line: string): SseMessage | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.idBuffer = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  private dispatch(): SseMessage | null {
    this.lastEventId = this.idBuffer;
    const data = this.data;
    const event = this.eventType;
    this.data = [];
    this.eventType = '';
    if (data.length === 0) return null;
    return { event: event === '' ? 'message' : event, data: data.join('\n'), lastEventId: this.lastEventId };
  }
}
