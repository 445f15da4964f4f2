/**
 * The client requests a session has forwarded and not yet seen answered, in arrival order: their timeouts,
 * and the SSE streams that carry their answers.
 */
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { InflightRequest, StreamState } from './router.js';

export class InflightTable {
  private readonly requests = new Map<RequestId, InflightRequest>();
  private readonly timers = new Map<RequestId, NodeJS.Timeout>();
  /** Request ids by the id of the (resumable) SSE stream that carries their answers. */
  private readonly byStream = new Map<string, Set<RequestId>>();

  constructor(
    private readonly timeoutMs: number,
    /** Called once for a request still unanswered after `timeoutMs`; it is no longer in flight by then. */
    private readonly onTimeout: (request: InflightRequest) => void,
  ) {}

  get size(): number {
    return this.requests.size;
  }

  values(): IterableIterator<InflightRequest> {
    return this.requests.values();
  }

  has(id: RequestId): boolean {
    return this.requests.has(id);
  }

  add(id: RequestId, method: string, progressToken: string | number | undefined): void {
    const request: InflightRequest = { id, method, progressToken, stream: 'open', startedAt: Date.now() };
    this.requests.set(id, request);
    const timer = setTimeout(() => {
      if (this.complete(id)) this.onTimeout(request);
    }, this.timeoutMs);
    timer.unref();
    this.timers.set(id, timer);
  }

  /** Forgets a request that got its answer (or was cancelled); returns it, or undefined if it was not in flight. */
  complete(id: RequestId): InflightRequest | undefined {
    const request = this.requests.get(id);
    if (!request) return undefined;
    this.requests.delete(id);
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    for (const [streamId, ids] of this.byStream) {
      if (ids.delete(id) && ids.size === 0) this.byStream.delete(streamId);
    }
    return request;
  }

  /** Records which SSE stream carries these requests' answers, so that a resume can find them. */
  bindStream(streamId: string, ids: RequestId[]): void {
    const inflight = ids.filter((id) => this.requests.has(id));
    if (inflight.length > 0) this.byStream.set(streamId, new Set(inflight));
  }

  /** The requests still in flight on a stream (a live set: it shrinks as they are answered). */
  onStream(streamId: string): Set<RequestId> {
    return this.byStream.get(streamId) ?? new Set();
  }

  setStreamState(ids: Iterable<RequestId>, state: StreamState): void {
    for (const id of ids) {
      const request = this.requests.get(id);
      if (request) request.stream = state;
    }
  }

  /** Forgets every request (the session is ending); returns their ids. */
  clear(): RequestId[] {
    const ids = [...this.requests.keys()];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.requests.clear();
    this.timers.clear();
    this.byStream.clear();
    return ids;
  }
}
