/**
 * Backpressure from a session's streams to its child: while any stream is congested the child's output is
 * paused, and a client that takes nothing from a congested stream for --stall-timeout loses its session.
 */
import type { Stream } from './stream.js';

/**
 * Rule: a stream is congested when its connection's backlog plus the events waiting for it pass
 * --max-stream-buffer, or, with no connection, when the events of calls its client is expected to resume
 * do. Why: past that, more of the child's output would only pile up in the bridge; the standalone stream
 * without a GET open has a bound of its own instead, since nobody may ever come for it.
 */
function isCongested(stream: Stream, bound: number): boolean {
  if (stream.sink) return stream.sink.backlog + stream.queuedBytes > bound;
  return stream.state === 'waiting' && !stream.isStandalone && stream.queuedBytes > bound;
}

export class Congestion {
  private readonly congested = new Set<Stream>();
  /** Since when some stream has been congested without its client taking anything. */
  private stalledSince: number | undefined;

  constructor(
    /** --max-stream-buffer. */
    private readonly bound: number,
    private readonly on: { paused(): void; resumed(): void },
  ) {}

  /** Re-checks a stream after its queue or its connection changed: the first congested stream pauses the child, the last one to clear resumes it. */
  update(stream: Stream): void {
    const now = isCongested(stream, this.bound);
    if (now === this.congested.has(stream)) return;
    if (now) {
      this.congested.add(stream);
      stream.lastBacklog = stream.sink?.backlog ?? 0;
      if (this.congested.size === 1) {
        this.stalledSince = performance.now();
        this.on.paused();
      }
    } else {
      this.congested.delete(stream);
      if (this.congested.size === 0) {
        this.stalledSince = undefined;
        this.on.resumed();
      }
    }
  }

  /** How long (ms) the client has taken nothing from a congested stream; 0 when none is congested. A shrinking backlog counts as reading. */
  stalledFor(now: number): number {
    for (const stream of this.congested) {
      const backlog = stream.sink?.backlog ?? 0;
      if (backlog < stream.lastBacklog) this.stalledSince = now;
      stream.lastBacklog = backlog;
    }
    return this.stalledSince === undefined ? 0 : now - this.stalledSince;
  }
}
