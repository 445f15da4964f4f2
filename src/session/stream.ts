/**
 * One SSE stream of a session, apart from the HTTP connection that carries it now: the POST stream of some
 * requests (it ends once each has its answer), or the session's standalone stream (GET). A stream outlives
 * a dropped connection when it is resumable, and another connection takes it over (Last-Event-ID).
 */
import type { RequestId } from '../protocol/jsonrpc.js';
import type { StoredEvent } from './outbound-log.js';

/**
 * Where a stream's events are written while a client is connected: an SSE response, as the session sees it
 * (the HTTP layer implements it).
 */
export interface EventSink {
  /** The priming event: an id and empty data, with the reconnection delay the client is asked to keep. */
  prime(eventId: string, retryMs: number | undefined): void;
  write(eventId: string | undefined, data: string): void;
  /** Bytes written and not yet taken by the client's connection. */
  readonly backlog: number;
  /** Ends the response cleanly; a stream that is not over stays resumable. */
  end(): void;
  /** Drops the connection at once, unsent bytes and all. */
  cut(): void;
  /** Calls back when the connection has taken everything written (after `backlog` was high), and when it is gone. */
  listen(listener: SinkListener): void;
}

export interface SinkListener {
  drained(): void;
  /** `finished`: everything written reached the connection and the response ended; else the client went away. */
  closed(finished: boolean): void;
}

/**
 * A stream's reach: connected; waiting (its events are kept for a client's Last-Event-ID, or, for the
 * standalone stream, for its next GET); or gone for good (not resumable, and its connection dropped).
 */
export type StreamState = 'open' | 'waiting' | 'gone';

export class Stream {
  sink: EventSink | undefined;
  /**
   * Events waiting for this stream's connection, oldest first: owner this stream (the events themselves are
   * the session's log's); bound: the session pauses its child while `queuedBytes` plus the connection's
   * backlog is over --max-stream-buffer, and ends itself if that lasts longer than --stall-timeout.
   */
  queue: StoredEvent[] = [];
  queuedBytes = 0;
  /** The sequence number of the last event written to a connection: where a fresh connection goes on from. */
  cursor = 0;
  /** The connection's backlog when the session last looked, to tell a slow reader from a stuck one. */
  lastBacklog = 0;
  /** The sequence number of each request's answer, once it has one. */
  readonly answeredAt = new Map<RequestId, number>();
  /** Requests whose answer has not been written to the log yet (failed and cancelled ones are struck off too). */
  readonly unanswered: Set<RequestId>;
  /** The highest sequence number evicted from the log before this stream was done with it: a resume from before it has a gap. */
  lostThrough = 0;

  constructor(
    /** Names the stream in its event ids, `<id>:<sequence>`; unique within the session, unguessable across sessions. */
    readonly id: string,
    /** The requests it carries the answers of, in the order they came; none for the standalone stream. */
    readonly requests: readonly RequestId[],
    readonly resumable: boolean,
  ) {
    this.unanswered = new Set(requests);
  }

  get state(): StreamState {
    if (this.sink) return 'open';
    return this.resumable || this.isStandalone ? 'waiting' : 'gone';
  }

  get isStandalone(): boolean {
    return this.requests.length === 0;
  }

  /** Every request it carries has its answer (or needs none any more): once its queue is written, it ends. */
  get answered(): boolean {
    return !this.isStandalone && this.unanswered.size === 0;
  }

  eventId(seq: number): string {
    return `${this.id}:${seq}`;
  }
}

/** `<stream id>:<sequence>` back to its parts, or undefined for anything else. */
export function parseEventId(eventId: string): { streamId: string; seq: number } | undefined {
  const colon = eventId.lastIndexOf(':');
  const seq = Number(eventId.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  return { streamId: eventId.slice(0, colon), seq };
}
