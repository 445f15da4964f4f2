/** Every rejection the bridge itself makes: an HTTP status with a JSON-RPC error body, built here only. */
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

export const ErrorCode = {
  /** The SDK's generic transport error: dual-era clients read it as "not a modern server" and fall back to initialize. */
  BadRequest: -32000,
  SessionNotFound: -32001,
  ParseError: -32700,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

export function jsonRpcError(
  status: number,
  code: number,
  message: string,
  /** `omitId` leaves the id out, as the spec suggests for a rejected Origin; otherwise it is `id` or null. */
  options: { id?: RequestId | null; omitId?: boolean; headers?: Record<string, string>; data?: unknown } = {},
): Response {
  const error: { code: number; message: string; data?: unknown } = { code, message };
  if (options.data !== undefined) error.data = options.data;
  const body = options.omitId ? { jsonrpc: '2.0', error } : { jsonrpc: '2.0', id: options.id ?? null, error };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...options.headers },
  });
}

export const sessionNotFound = () => jsonRpcError(404, ErrorCode.SessionNotFound, 'Session not found');
