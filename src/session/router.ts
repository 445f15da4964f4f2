/** Where a child's message goes, and what waits while it has nowhere to go. */
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';

export type Route =
  | { kind: 'request'; id: RequestId } // on the POST stream of this in-flight client request
  | { kind: 'standalone' } // on the session's GET stream
  | { kind: 'hold' }; // nowhere yet: keep it until the GET stream opens

/**
 * The HTTP stream that carries a request's answer: connected, disconnected but resumable (its events are
 * stored and replayed when the client comes back with Last-Event-ID), or gone for good.
 */
export type StreamState = 'open' | 'resumable' | 'gone';

/** A client request forwarded to the child and not yet answered, in arrival order. */
export interface InflightRequest {
  id: RequestId;
  method: string;
  progressToken: string | number | undefined;
  stream: StreamState;
  startedAt: number;
}

function progressTokenOf(message: JSONRPCMessage): string | number | undefined {
  if (!('method' in message) || message.method !== 'notifications/progress') return undefined;
  const token = (message.params as { progressToken?: unknown } | undefined)?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/**
 * Rule: a child message that is not a response goes with the in-flight request that owns its progress token
 * (while that request's stream is open or resumable), else with the oldest request whose stream is open,
 * else on the GET stream, else with the oldest request whose stream is resumable, else it waits for the GET
 * stream. Why: stdio does not say which call a message belongs to; the SDK silently drops a message whose
 * stream is gone; the 2025-11-25 spec wants in-call messages (progress, sampling, elicitation) on the
 * caller's stream; and a resumable stream delivers late rather than never. Responses never come here: the
 * transport routes them by id.
 */
export function routeChildMessage(
  message: JSONRPCMessage,
  inflight: Iterable<InflightRequest>,
  standaloneOpen: boolean,
): Route {
  const token = progressTokenOf(message);
  let oldestOpen: InflightRequest | undefined;
  let oldestResumable: InflightRequest | undefined;
  for (const request of inflight) {
    if (request.stream === 'gone') continue;
    if (token !== undefined && request.progressToken === token) return { kind: 'request', id: request.id };
    if (request.stream === 'open') oldestOpen ??= request;
    else oldestResumable ??= request;
  }
  if (oldestOpen) return { kind: 'request', id: oldestOpen.id };
  if (standaloneOpen) return { kind: 'standalone' };
  return oldestResumable ? { kind: 'request', id: oldestResumable.id } : { kind: 'hold' };
}

/** Messages waiting for the GET stream, bounded: past the limit the oldest are dropped and counted. */
export class PendingMessages {
  private messages: JSONRPCMessage[] = [];
  private droppedSinceReport = 0;

  constructor(private readonly limit: number) {}

  /** Returns true when an older message had to be dropped to make room. */
  push(message: JSONRPCMessage): boolean {
    this.messages.push(message);
    if (this.messages.length <= this.limit) return false;
    this.messages.shift();
    this.droppedSinceReport++;
    return true;
  }

  /** Takes every waiting message and how many were dropped since the last take. */
  take(): { messages: JSONRPCMessage[]; dropped: number } {
    const taken = { messages: this.messages, dropped: this.droppedSinceReport };
    this.messages = [];
    this.droppedSinceReport = 0;
    return taken;
  }

  get size(): number {
    return this.messages.length;
  }
}
