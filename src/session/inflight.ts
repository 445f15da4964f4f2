/** The client requests a session has forwarded and not yet seen answered, in arrival order. */
import type { RequestId } from '../protocol/jsonrpc.js';
import type { Stream } from './stream.js';

export interface InflightRequest {
  id: RequestId;
  method: string;
  progressToken: string | number | undefined;
  /** The stream that carries its answer. */
  stream: Stream;
  /** performance.now() when it was forwarded. */
  startedAt: number;
}

export class InflightTable {
  /** By id, in arrival order (a Map keeps insertion order): the oldest first, as routing and timeouts want. */
  private readonly requests = new Map<RequestId, InflightRequest>();

  get size(): number {
    return this.requests.size;
  }

  values(): IterableIterator<InflightRequest> {
    return this.requests.values();
  }

  has(id: RequestId): boolean {
    return this.requests.has(id);
  }

  add(request: InflightRequest): void {
    this.requests.set(request.id, request);
  }

  /** Forgets a request that got its answer (or was cancelled); returns it, or undefined if it was not in flight. */
  complete(id: RequestId): InflightRequest | undefined {
    const request = this.requests.get(id);
    if (request) this.requests.delete(id);
    return request;
  }

  /** Takes off the requests forwarded at or before `startedBy`: every request has the same timeout, so they are the oldest. */
  takeExpired(startedBy: number): InflightRequest[] {
    const expired: InflightRequest[] = [];
    for (const request of this.requests.values()) {
      if (request.startedAt > startedBy) break;
      expired.push(request);
    }
    for (const request of expired) this.requests.delete(request.id);
    return expired;
  }

  /** Forgets every request (the session is ending); returns them. */
  clear(): InflightRequest[] {
    const all = [...this.requests.values()];
    this.requests.clear();
    return all;
  }
}
