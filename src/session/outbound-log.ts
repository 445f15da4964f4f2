/**
 * Everything a session owes its client, in one bounded place: each message from its child is kept from the
 * moment it arrives until nobody can need it again (written to a stream that cannot be resumed, or its
 * stream is over). Messages not yet written (the client is slow, or away and expected back) and written ones
 * kept for a resume (Last-Event-ID) are the same events here, counted once, bounded per session in events
 * and bytes, and in bytes across the bridge by a budget every session's log shares.
 */
import type { RequestId } from '../protocol/jsonrpc.js';
import type { Stream } from './stream.js';

export interface StoredEvent {
  /** Counts every event of the session: ids never repeat, and order events within a stream. */
  readonly seq: number;
  readonly stream: Stream;
  readonly text: string;
  readonly bytes: number;
  /** The request this event answers (its final event), if it is an answer. */
  readonly answers: RequestId | undefined;
  /** Handed to a connection at least once. */
  written: boolean;
  /** No longer in the log (released or evicted). */
  dropped: boolean;
}

export interface LogLimits {
  maxEvents: number;
  maxBytes: number;
}

/** A first-in first-out list that passes over entries dropped meanwhile. */
class Fifo {
  private items: StoredEvent[] = [];
  private head = 0;

  push(event: StoredEvent): void {
    this.items.push(event);
  }

  /** The oldest entry that `stillHere` accepts, left on the list (entries it refuses are forgotten). */
  first(stillHere: (event: StoredEvent) => boolean): StoredEvent | undefined {
    while (this.head < this.items.length && !stillHere(this.items[this.head])) this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      return undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  /** Takes off the entry `first` returned. */
  dropFirst(): void {
    this.head++;
  }
}

/** Bytes held by every session's log together. */
export class OutboundBudget {
  used = 0;
  readonly logs = new Set<OutboundLog>();

  constructor(readonly maxBytes: number) {}

  /**
   * Rule: over the bridge-wide budget, the largest log gives up its least needed event, until the budget
   * holds. Why: memory stays bounded whatever the number of sessions, and one session that fills the budget
   * pays for it itself instead of making another's events unrecoverable.
   */
  enforce(newest: StoredEvent): void {
    while (this.used > this.maxBytes) {
      const bySize = [...this.logs].sort((a, b) => b.bytes - a.bytes);
      if (!bySize.some((log) => log.evictOne('budget', newest))) return;
    }
  }
}

export type EvictionCause = 'session' | 'budget';

export class OutboundLog {
  bytes = 0;
  count = 0;
  private nextSeq = 1;
  /** Events by stream, in sequence order (Map keeps insertion order), for replay. */
  private readonly byStream = new Map<Stream, Map<number, StoredEvent>>();
  /** The eviction order: written messages, then unwritten ones, then answers (see `evictOne`). */
  private readonly writtenMessages = new Fifo();
  private readonly unwrittenMessages = new Fifo();
  private readonly answers = new Fifo();

  constructor(
    private readonly limits: LogLimits,
    private readonly budget: OutboundBudget,
    /** Called for each event evicted to respect a bound (not for those released because they were done). */
    private readonly onEvicted: (event: StoredEvent, cause: EvictionCause) => void,
  ) {
    budget.logs.add(this);
  }

  get nextSequence(): number {
    return this.nextSeq;
  }

  append(stream: Stream, text: string, answers: RequestId | undefined): StoredEvent {
    const event: StoredEvent = { seq: this.nextSeq++, stream, text, bytes: Buffer.byteLength(text), answers, written: false, dropped: false };
    let events = this.byStream.get(stream);
    if (!events) this.byStream.set(stream, (events = new Map()));
    events.set(event.seq, event);
    (answers === undefined ? this.unwrittenMessages : this.answers).push(event);
    this.count++;
    this.bytes += event.bytes;
    this.budget.used += event.bytes;
    while (this.count > this.limits.maxEvents || this.bytes > this.limits.maxBytes) if (!this.evictOne('session', event)) break;
    this.budget.enforce(event);
    return event;
  }

  /** The event was handed to a connection; a stream that cannot be resumed needs it no more. */
  written(event: StoredEvent): void {
    if (event.written || event.dropped) return;
    event.written = true;
    if (!event.stream.resumable) this.release(event);
    else if (event.answers === undefined) this.writtenMessages.push(event);
  }

  /** A stream's events after `seq`, oldest first. */
  eventsAfter(stream: Stream, seq: number): StoredEvent[] {
    return [...(this.byStream.get(stream)?.values() ?? [])].filter((event) => event.seq > seq);
  }

  /** Drops one event that is no longer wanted (a bound of the session's own, not of this log). */
  discard(event: StoredEvent): void {
    this.release(event);
  }

  /** Whether any event of the stream is still kept. */
  holds(stream: Stream): boolean {
    return this.byStream.has(stream);
  }

  /** The stream is over: its events go. */
  releaseStream(stream: Stream): void {
    for (const event of this.byStream.get(stream)?.values() ?? []) this.release(event);
  }

  /** Frees everything: the session has ended. */
  close(): void {
    for (const events of this.byStream.values()) for (const event of events.values()) event.dropped = true;
    this.byStream.clear();
    this.budget.used -= this.bytes;
    this.bytes = 0;
    this.count = 0;
    this.budget.logs.delete(this);
  }

  /**
   * Rule: evict messages already written (a resume from before them would miss them), then messages not yet
   * written (their stream, if connected, is cut, since it can no longer be delivered whole), and answers only
   * when nothing else is left; oldest first in each; never `newest`, the event being stored. Why: a written
   * progress notification is the cheapest loss, a call's answer is what its client waits for, and a message
   * larger than the whole bound must still reach its client. Returns false when nothing can go.
   */
  evictOne(cause: EvictionCause, newest: StoredEvent): boolean {
    const alive = (event: StoredEvent) => !event.dropped;
    const unwritten = (event: StoredEvent) => !event.dropped && !event.written;
    for (const [fifo, stillHere] of [
      [this.writtenMessages, alive],
      [this.unwrittenMessages, unwritten],
      [this.answers, alive],
    ] as const) {
      const event = fifo.first(stillHere);
      if (!event || event === newest) continue;
      fifo.dropFirst();
      this.release(event);
      this.onEvicted(event, cause);
      return true;
    }
    return false;
  }

  private release(event: StoredEvent): void {
    if (event.dropped) return;
    event.dropped = true;
    const events = this.byStream.get(event.stream);
    events?.delete(event.seq);
    if (events?.size === 0) this.byStream.delete(event.stream);
    this.count--;
    this.bytes -= event.bytes;
    this.budget.used -= event.bytes;
  }
}
