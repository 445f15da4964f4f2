/** Where a child's message goes: which of its session's streams carries it. */
import { methodOf, type JSONRPCMessage } from '../protocol/jsonrpc.js';
import type { InflightRequest } from './inflight.js';

function progressTokenOfNotification(message: JSONRPCMessage): string | number | undefined {
  if (methodOf(message) !== 'notifications/progress') return undefined;
  const token = (message as { params?: { progressToken?: unknown } }).params?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/**
 * Rule: a child message that is not a response goes with the in-flight request that owns its progress token
 * (while that request's stream is open or resumable), else with the oldest request whose stream is open,
 * else on the standalone (GET) stream if it is open, else with the oldest request whose stream is resumable,
 * else on the standalone stream, which keeps it until a GET opens it. Returns the request, or undefined for
 * the standalone stream. Why: stdio does not say which call a message belongs to; the 2025-11-25 spec wants
 * in-call messages (progress, sampling, elicitation) on the caller's stream; a resumable stream delivers late
 * rather than never; and a message must never be broadcast. Responses never come here: they go by id.
 */
export function routeChildMessage(
  message: JSONRPCMessage,
  inflight: Iterable<InflightRequest>,
  standaloneOpen: boolean,
): InflightRequest | undefined {
  const token = progressTokenOfNotification(message);
  let oldestOpen: InflightRequest | undefined;
  let oldestWaiting: InflightRequest | undefined;
  for (const request of inflight) {
    const state = request.stream.state;
    if (state === 'gone') continue;
    if (token !== undefined && request.progressToken === token) return request;
    if (state === 'open') oldestOpen ??= request;
    else oldestWaiting ??= request;
    if (oldestOpen && token === undefined) break;
  }
  if (oldestOpen) return oldestOpen;
  if (standaloneOpen) return undefined;
  return oldestWaiting;
}
