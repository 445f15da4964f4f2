/** Every answer the bridge writes that is not an SSE stream: a status, and for refusals a JSON-RPC error body. */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RequestId } from '../protocol/jsonrpc.js';

export const ErrorCode = {
  /** The SDK's generic transport error: dual-era clients read it as "not a modern server" and fall back to initialize. */
  BadRequest: -32000,
  SessionNotFound: -32001,
  ParseError: -32700,
  InvalidRequest: -32600,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

/** Seconds a client should wait before retrying when every session (or every child) is busy. */
export const BUSY_RETRY_SECONDS = '5';

export interface ErrorReply {
  status: number;
  code: number;
  message: string;
  /** The request's id, or null; `omitId` leaves it out, as the spec suggests for a rejected Origin. */
  id?: RequestId | null;
  omitId?: boolean;
  data?: unknown;
  headers?: OutgoingHttpHeaders;
}

export function replyError(res: ServerResponse, reply: ErrorReply, base: OutgoingHttpHeaders = {}): void {
  const error: { code: number; message: string; data?: unknown } = { code: reply.code, message: reply.message };
  if (reply.data !== undefined) error.data = reply.data;
  const body = JSON.stringify(reply.omitId ? { jsonrpc: '2.0', error } : { jsonrpc: '2.0', id: reply.id ?? null, error });
  res
    .writeHead(reply.status, { ...base, ...reply.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    .end(body);
}

export function replyEmpty(res: ServerResponse, status: number, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, headers).end();
}

export const sessionNotFound: ErrorReply = { status: 404, code: ErrorCode.SessionNotFound, message: 'Session not found' };
