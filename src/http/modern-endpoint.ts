/**
 * The MCP endpoint's 2026-07-28 side (--modern): a classified modern request goes to its server's
 * ModernFront, and is answered as that revision's Streamable HTTP wants: JSON for an answer without a
 * stream, SSE for a call (its progress and logs, then its result) and for a listen stream. Sessions play no
 * part: an Mcp-Session-Id on a modern request is ignored, as the spec says.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Answer, ModernFront } from '../era/modern-front.js';
import type { ModernRequest } from '../era/modern-request.js';
import type { Caller } from './admission.js';
import { BUSY_RETRY_SECONDS, ErrorCode, replyError } from './replies.js';
import { SSE_HEADERS, SseResponse, type SseClock } from './sse-response.js';

/**
 * How long a call's head waits for the call's first event or end. Why this long: until the head leaves, a
 * question the caller cannot answer still gets the 400 that -32021 needs; keep-alives start after it.
 */
const CALL_HEAD_HOLD_MS = 1000;

function replyAnswer(res: ServerResponse, answer: Answer, id: ModernRequest['id'], cors: OutgoingHttpHeaders): void {
  if ('message' in answer) {
    const headers = answer.status === 503 || answer.status === 429 ? { 'retry-after': BUSY_RETRY_SECONDS } : undefined;
    return replyError(res, { status: answer.status, code: ErrorCode.InternalError, message: answer.message, id, headers }, cors);
  }
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, { ...cors, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

export async function serveModern(
  req: IncomingMessage,
  front: ModernFront,
  request: ModernRequest,
  message: JSONRPCRequest,
  res: ServerResponse,
  client: Caller,
  cors: OutgoingHttpHeaders,
  sse: SseClock,
): Promise<void> {
  // A call's quick answer leaves in one write with its head; a listen stream's head goes at once.
  const leg = (holdHead: boolean) => () => new SseResponse(res, { ...SSE_HEADERS, ...cors }, sse, { holdHead, holdMs: CALL_HEAD_HOLD_MS });
  // Whom a call or stream counts toward, and who alone may retry a parked call: this principal at this address.
  const owner = `${client.principal}\u0000${client.key}`;
  let answer: Answer | undefined;
  const gone = () => res.destroyed;
  if (request.method === 'server/discover') answer = await front.discover(request, owner);
  else if (request.method === 'subscriptions/listen') answer = await front.listen(request, message, owner, leg(false), gone);
  else answer = await front.call(request, message, req.headers, owner, leg(true), gone);
  if (answer && !res.headersSent && !res.destroyed) replyAnswer(res, answer, request.id, cors);
}
