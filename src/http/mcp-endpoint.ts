/** The MCP endpoint: finds a request's session (or starts one on `initialize`) and hands the request to it. */
import type { IncomingMessage } from 'node:http';
import { requestBodyTooLargeMessage } from '@modelcontextprotocol/sdk/server/requestBody.js';
import { isInitializeRequest, isJSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { CapacityError, type Reservation, type SessionRegistry } from '../session/registry.js';
import type { ReadBody, Session } from '../session/session.js';
import { ErrorCode, jsonRpcError, sessionNotFound } from './errors.js';
import type { ClientRateLimit } from './rate-limits.js';
import { readBody as readBodyText } from './read-body.js';

export interface EndpointDeps {
  registry: SessionRegistry;
  maxBodyBytes: number;
  /** New sessions per client. */
  sessionRate: ClientRateLimit;
  /** Starts a session for `client` (spawning its child) in the reserved place; rejects when the command cannot start. */
  startSession(reservation: Reservation, client: string): Promise<Session>;
  metrics: Metrics;
  log: Logger;
}

/** Seconds a client should wait before retrying when every session is busy. */
const BUSY_RETRY_SECONDS = '5';

const missingSession = () =>
  jsonRpcError(400, ErrorCode.BadRequest, 'Bad Request: Mcp-Session-Id header is required');

function requestIdOf(body: unknown): string | number | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/** `incoming` is `request`'s Node side, whose body is read directly. */
export type Endpoint = (request: Request, incoming: IncomingMessage, client: string) => Promise<Response>;

export function createMcpEndpoint(deps: EndpointDeps): Endpoint {
  const { registry, metrics, log } = deps;

  async function readBody(request: Request, incoming: IncomingMessage): Promise<ReadBody | Response> {
    const body = await readBodyText(incoming, deps.maxBodyBytes);
    if (body.tooLarge) {
      metrics.rejected('size');
      return jsonRpcError(413, ErrorCode.BadRequest, requestBodyTooLargeMessage(deps.maxBodyBytes));
    }
    try {
      return { request, parsed: JSON.parse(body.text) as unknown };
    } catch {
      // Not JSON: hand the SDK an unread copy so that it answers in its own order (406, 415, then 400).
      return { request: new Request(request.url, { method: request.method, headers: request.headers, body: body.text }) };
    }
  }

  async function startWithInitialize(body: ReadBody, client: string): Promise<Response> {
    const message = body.parsed as { method?: unknown } | undefined;
    if (message?.method !== 'initialize') {
      metrics.rejected('session');
      return missingSession();
    }
    const id = requestIdOf(message);
    if (!isJSONRPCRequest(message) || !isInitializeRequest(message)) {
      return jsonRpcError(400, ErrorCode.InvalidParams, 'Invalid initialize request: protocolVersion, capabilities and clientInfo are required', {
        id,
      });
    }
    const wait = await deps.sessionRate.take(client);
    if (wait !== undefined) {
      metrics.rejected('rate');
      return jsonRpcError(429, ErrorCode.BadRequest, 'Too Many Requests: too many new sessions from this client', {
        id,
        headers: { 'Retry-After': String(wait) },
      });
    }
    let reservation: Reservation;
    try {
      reservation = registry.reserve(client);
    } catch (error) {
      if (!(error instanceof CapacityError)) throw error;
      metrics.rejected('cap');
      log.warn({ client, scope: error.scope }, 'session cap reached with every session busy; refusing a new session');
      const [status, text] = error.scope === 'client' ? [429, 'Too Many Requests'] : [503, 'Service Unavailable'];
      return jsonRpcError(status, ErrorCode.BadRequest, `${text}: ${error.message}, try again later`, {
        id,
        headers: { 'Retry-After': BUSY_RETRY_SECONDS },
      });
    }
    let session: Session;
    try {
      session = await deps.startSession(reservation, client);
    } catch (error) {
      reservation.release();
      log.error({ err: (error as Error).message }, 'MCP server command could not be started');
      return jsonRpcError(502, ErrorCode.InternalError, `Bad Gateway: the MCP server could not be started: ${(error as Error).message}`, {
        id,
      });
    }
    const response = await session.handlePost(body);
    // The transport refused the initialize (e.g. 406 for a bad Accept header): nothing will use this child.
    if (session.id === undefined) void session.end('not-initialized');
    return response;
  }

  function findSession(request: Request): Session | Response {
    const sessionId = request.headers.get('mcp-session-id');
    const session = sessionId === null ? undefined : registry.get(sessionId);
    if (session) return session;
    metrics.rejected('session');
    return sessionId === null ? missingSession() : sessionNotFound();
  }

  return async (request, incoming, client) => {
    if (request.method === 'POST') {
      const body = await readBody(request, incoming);
      if (body instanceof Response) return body;
      if (!request.headers.has('mcp-session-id')) {
        if (body.parsed === undefined) return jsonRpcError(400, ErrorCode.ParseError, 'Parse error: Invalid JSON');
        return startWithInitialize(body, client);
      }
      const session = findSession(request);
      return session instanceof Response ? session : session.handlePost(body);
    }
    const session = findSession(request);
    if (session instanceof Response) return session;
    return request.method === 'GET' ? session.handleGet(request) : session.handleDelete(request);
  };
}
