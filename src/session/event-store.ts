/**
 * The SDK's EventStore for one session, so that a client whose SSE connection drops can resume with
 * Last-Event-ID. Event ids are `<stream id>:<sequence>`, the sequence counting every event of the session:
 * ids parse back to their stream, order events within it, and are never reused. Bounded per session (events and bytes) and across the bridge (bytes).
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

interface StoredEvent {
  streamId: string;
  seq: number;
  message: JSONRPCMessage;
  bytes: number;
}

/** Bytes held by every session's store together; shared by the stores of one bridge. */
export class EventBudget {
  used = 0;
  constructor(readonly maxBytes: number) {}
}

export interface EventStoreLimits {
  maxEvents: number;
  maxBytes: number;
  budget: EventBudget;
}

/** The SDK stores a `{}` message for the priming event that opens each stream; it is never replayed. */
function isPriming(message: JSONRPCMessage): boolean {
  return Object.keys(message).length === 0;
}

export function parseEventId(eventId: string): { streamId: string; seq: number } | undefined {
  const colon = eventId.lastIndexOf(':');
  const seq = Number(eventId.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { streamId: eventId.slice(0, colon), seq };
}

export class SessionEventStore implements EventStore {
  /** Events of every stream in the order they were stored: the oldest is evicted first. */
  private events: StoredEvent[] = [];
  /** Streams that still hold events. */
  private readonly streams = new Map<string, StoredEvent[]>();
  private nextSeq = 1;
  private bytes = 0;
  /** Called with a stream's id when it gets its first event (or its first since eviction emptied it). */
  onNewStream: ((streamId: string) => void) | undefined;

  constructor(private readonly limits: EventStoreLimits) {}

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    let stream = this.streams.get(streamId);
    if (!stream) {
      this.streams.set(streamId, (stream = []));
      this.onNewStream?.(streamId);
    }
    const event: StoredEvent = { streamId, seq: this.nextSeq++, message, bytes: JSON.stringify(message).length };
    stream.push(event);
    this.events.push(event);
    this.bytes += event.bytes;
    this.limits.budget.used += event.bytes;
    this.evictOverLimits();
    return `${streamId}:${event.seq}`;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.streamIdOf(eventId);
  }

  /** The stream an event id belongs to, if it still holds events to replay from. */
  streamIdOf(eventId: string): string | undefined {
    const parsed = parseEventId(eventId);
    return parsed && this.streams.has(parsed.streamId) ? parsed.streamId : undefined;
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const parsed = parseEventId(lastEventId);
    const stream = parsed && this.streams.get(parsed.streamId);
    if (!parsed || !stream) throw new Error(`unknown event id ${lastEventId}`);
    // Only this stream's events, only those after the client's cursor; a copy, since sending may store more.
    for (const event of stream.filter((e) => e.seq > parsed.seq)) {
      if (!isPriming(event.message)) await send(`${event.streamId}:${event.seq}`, event.message);
    }
    return parsed.streamId;
  }

  /** Frees everything: the session has ended. */
  clear(): void {
    this.limits.budget.used -= this.bytes;
    this.bytes = 0;
    this.events = [];
    this.streams.clear();
  }

  get size(): { events: number; bytes: number } {
    return { events: this.events.length, bytes: this.bytes };
  }

  /**
   * Rule: past the session's event or byte bound, or the bridge-wide byte budget, this session's oldest
   * events go first. Why: memory stays bounded, and a client that resumes late loses the oldest messages,
   * never the newest (the result of a call is its last event).
   */
  private evictOverLimits(): void {
    let dropped = 0;
    while (
      dropped < this.events.length &&
      (this.events.length - dropped > this.limits.maxEvents ||
        this.bytes > this.limits.maxBytes ||
        this.limits.budget.used > this.limits.budget.maxBytes)
    ) {
      const event = this.events[dropped++];
      this.bytes -= event.bytes;
      this.limits.budget.used -= event.bytes;
      const stream = this.streams.get(event.streamId);
      stream?.shift();
      if (stream?.length === 0) this.streams.delete(event.streamId);
    }
    if (dropped > 0) this.events = this.events.slice(dropped);
  }
}
