/** The MCP endpoint: finds a request's session (or starts one on `initialize`) and hands the request to it. */
import { readRequestBody, requestBodyTooLargeMessage } from '@modelcontextprotocol/sdk/server/requestBody.js';
import { isInitializeRequest, isJSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { CapacityError, type Reservation, type SessionRegistry } from '../session/registry.js';
import type { ReadBody, Session } from '../session/session.js';
import { ErrorCode, jsonRpcError, sessionNotFound } from './errors.js';

export interface EndpointDeps {
  registry: SessionRegistry;
  maxBodyBytes: number;
  /** Starts a session (spawning its child) in the reserved place; rejects when the command cannot start. */
  startSession(reservation: Reservation): Promise<Session>;
  log: Logger;
}

/** Seconds a client should wait before retrying when every session is busy. */
const RETRY_AFTER_SECONDS = '5';

const missingSession = () =>
  jsonRpcError(400, ErrorCode.BadRequest, 'Bad Request: Mcp-Session-Id header is required');

function requestIdOf(body: unknown): string | number | null {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

async function readBody(request: Request, maxBytes: number): Promise<ReadBody | Response> {
  const body = await readRequestBody(request, maxBytes);
  if (body.tooLarge) return jsonRpcError(413, ErrorCode.BadRequest, requestBodyTooLargeMessage(maxBytes));
  try {
    return { request, parsed: JSON.parse(body.text) as unknown };
  } catch {
    // Not JSON: hand the SDK an unread copy so that it answers in its own order (406, 415, then 400).
    return { request: new Request(request.url, { method: request.method, headers: request.headers, body: body.text }) };
  }
}

export function createMcpEndpoint(deps: EndpointDeps): (request: Request) => Promise<Response> {
  const { registry, log } = deps;

  async function startWithInitialize(body: ReadBody): Promise<Response> {
    const message = body.parsed as { method?: unknown } | undefined;
    if (message?.method !== 'initialize') return missingSession();
    const id = requestIdOf(message);
    if (!isJSONRPCRequest(message) || !isInitializeRequest(message)) {
      return jsonRpcError(400, ErrorCode.InvalidParams, 'Invalid initialize request: protocolVersion, capabilities and clientInfo are required', {
        id,
      });
    }
    let reservation: Reservation;
    try {
      reservation = registry.reserve();
    } catch (error) {
      if (!(error instanceof CapacityError)) throw error;
      log.warn('session cap reached with every session busy; refusing a new session');
      return jsonRpcError(503, ErrorCode.BadRequest, `Service Unavailable: ${error.message}, try again later`, {
        id,
        headers: { 'Retry-After': RETRY_AFTER_SECONDS },
      });
    }
    let session: Session;
    try {
      session = await deps.startSession(reservation);
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

  async function post(request: Request): Promise<Response> {
    const body = await readBody(request, deps.maxBodyBytes);
    if (body instanceof Response) return body;
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId === null) {
      if (body.parsed === undefined) return jsonRpcError(400, ErrorCode.ParseError, 'Parse error: Invalid JSON');
      return startWithInitialize(body);
    }
    const session = registry.get(sessionId);
    return session ? session.handlePost(body) : sessionNotFound();
  }

  return async (request) => {
    if (request.method === 'POST') return post(request);
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId === null) return missingSession();
    const session = registry.get(sessionId);
    if (!session) return sessionNotFound();
    return request.method === 'GET' ? session.handleGet(request) : session.handleDelete(request);
  };
}
