/**
 * CORS for the MCP endpoint, for browser clients (claude.ai, the Inspector's web UI). Only origins that
 * passed the Origin guard get here, so the allowed origin is echoed back; without an Origin nothing is added.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const ALLOW_METHODS = 'GET, POST, DELETE';
const ALLOW_HEADERS = 'Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name';
const EXPOSE_HEADERS = 'Mcp-Session-Id, WWW-Authenticate';
const MAX_AGE_SECONDS = '600';

/** The headers every answer to this request carries. */
export function corsHeaders(request: IncomingHttpHeaders): OutgoingHttpHeaders {
  const origin = request.origin;
  if (!origin) return {};
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSE_HEADERS, vary: 'Origin' };
}

export function isPreflight(method: string | undefined, request: IncomingHttpHeaders): boolean {
  return method === 'OPTIONS' && request.origin !== undefined && request['access-control-request-method'] !== undefined;
}

/** The answer to a preflight (204). */
export function preflightHeaders(request: IncomingHttpHeaders): OutgoingHttpHeaders {
  return {
    'access-control-allow-origin': request.origin,
    'access-control-allow-methods': ALLOW_METHODS,
    'access-control-allow-headers': ALLOW_HEADERS,
    'access-control-max-age': MAX_AGE_SECONDS,
    vary: 'Origin, Access-Control-Request-Headers',
  };
}
