/**
 * Positions in the per-shard event streams. Events are written to one stream per shard (so each
 * transition and its event share a cluster slot); a subscriber's place is therefore a vector with
 * one stream id per shard. It travels as the SSE `id:` and comes back as `Last-Event-ID`.
 *
 * Text form: `v1.<shardCount>.<pos>.<pos>...`, where pos is `<ms base36>` or `<ms base36>-<seq base36>`
 * and an empty pos means "before the first event".
 */
export type StreamId = string;

export const STREAM_START: StreamId = '0-0';

export function compareStreamIds(a: StreamId, b: StreamId): number {
  const [aMs, aSeq] = splitId(a);
  const [bMs, bSeq] = splitId(b);
  return aMs !== bMs ? aMs - bMs : aSeq - bSeq;
}

function splitId(id: StreamId): [number, number] {
  const dash = id.indexOf('-');
  if (dash === -1) return [Number(id), 0];
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export class EventCursor {
  readonly positions: StreamId[];

  constructor(positions: StreamId[]) {
    this.positions = positions;
  }

  static start(shardCount: number): EventCursor {
    return new EventCursor(Array.from({ length: shardCount }, () => STREAM_START));
  }

  /** Parses the text form; returns null for anything malformed or for another shard count. */
  static parse(text: string, shardCount: number): EventCursor | null {
    const parts = text.split('.');
    if (parts.length !== shardCount + 2 || parts[0] !== 'v1' || parts[1] !== String(shardCount)) return null;
    const positions: StreamId[] = [];
    for (const part of parts.slice(2)) {
      if (part === '') {
        positions.push(STREAM_START);
        continue;
      }
      const match = /^([0-9a-z]{1,11})(?:-([0-9a-z]{1,13}))?$/.exec(part);
      if (match === null) return null;
      const ms = parseInt(match[1] ?? '', 36);
      const seq = match[2] === undefined ? 0 : parseInt(match[2], 36);
      if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return null;
      positions.push(`${ms}-${seq}`);
    }
    return new EventCursor(positions);
  }

  position(shard: number): StreamId {
    return this.positions[shard] ?? STREAM_START;
  }

  /** A copy with one shard moved forward. */
  with(shard: number, id: StreamId): EventCursor {
    const positions = this.positions.slice();
    positions[shard] = id;
    return new EventCursor(positions);
  }

  toString(): string {
    const parts = this.positions.map((id) => {
      if (id === STREAM_START) return '';
      const [ms, seq] = splitId(id);
      return seq === 0 ? ms.toString(36) : `${ms.toString(36)}-${seq.toString(36)}`;
    });
    return `v1.${this.positions.length}.${parts.join('.')}`;
  }
}
