/**
 * The MCP endpoint's Streamable HTTP semantics (2025-11-25, serving 2025-03-26 and 2025-06-18 clients too):
 * what a POST, GET or DELETE must carry, every status code, finding the session (or starting one on
 * `initialize`), and handing it messages and connections. Admission (Host, Origin, rate, auth) ran before.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { requestBodyTooLargeMessage, MAX_BATCH_SIZE } from '@modelcontextprotocol/sdk/server/requestBody.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { ModernFront } from '../era/modern-front.js';
import { classify } from '../era/modern-request.js';
import type { Logger, ThrottledWarnings } from '../log.js';
import type { RejectionReason, ServerMetrics } from '../metrics.js';
import { idOf, initializeVersionOf, methodOf, oneLine, wireMessage, type WireMessage } from '../protocol/jsonrpc.js';
import { SUPPORTED_PROTOCOL_VERSIONS, isSupportedVersion } from '../protocol/versions.js';
import { CapacityError, type Reservation, type ServerCap, type SessionRegistry } from '../session/registry.js';
import type { PostRefusal, Session } from '../session/session.js';
import type { Caller } from './admission.js';
import type { ClientRateLimit } from './rate-limits.js';
import { serveModern } from './modern-endpoint.js';
import type { PeerLink } from './peer-link.js';
import { readBody } from './read-body.js';
import { BUSY_RETRY_SECONDS, ErrorCode, replyEmpty, replyError, sessionNotFound, type ErrorReply } from './replies.js';
import { SSE_HEADERS, SseResponse, type SseClock } from './sse-response.js';

export interface EndpointDeps {
  registry: SessionRegistry;
  /** The server this endpoint serves: its sessions are the only ones it finds, and its cap applies. */
  server: ServerCap;
  maxBodyBytes: number;
  /** New sessions per client. */
  sessionRate: ClientRateLimit;
  /** Starts a session (spawning or taking its child) in the reserved place; rejects when the command cannot start. */
  startSession(reservation: Reservation, client: Caller, protocolVersion: string): Promise<Session>;
  /** Whether a Last-Event-ID is honoured (resumable streams are on). */
  resume: boolean;
  /** The server's 2026-07-28 side (--modern); `undefined`: modern requests get the 2025 answers, and clients fall back. */
  modern: ModernFront | undefined;
  /** The other nodes: a 2026-07-28 retry goes to the node that parked its call. */
  peers: PeerLink;
  sse: SseClock;
  metrics: ServerMetrics;
  warnings: ThrottledWarnings;
  log: Logger;
}

export type Endpoint = (req: IncomingMessage, res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders) => Promise<void>;

/** Seconds a client should wait before retrying when its server's input is full. */
const INPUT_FULL_RETRY_SECONDS = '1';

const isReply = (value: Session | ErrorReply): value is ErrorReply => 'status' in value;
const badRequest = (message: string, code: number = ErrorCode.BadRequest): ErrorReply => ({ status: 400, code, message });

/** The answer to each refusal of a POST by its session. */
const POST_REFUSALS: Record<PostRefusal, { reply: ErrorReply; reason: RejectionReason }> = {
  ended: { reply: sessionNotFound, reason: 'session' },
  'too-many-inflight': {
    reply: { status: 429, code: ErrorCode.BadRequest, message: 'Too Many Requests: too many requests in flight on this session', headers: { 'retry-after': '1' } },
    reason: 'inflight',
  },
  'duplicate-id': { reply: badRequest('Invalid Request: a request with this id is already in flight', ErrorCode.InvalidRequest), reason: 'invalid' },
  'input-full': {
    reply: {
      status: 503,
      code: ErrorCode.BadRequest,
      message: 'Service Unavailable: the MCP server is not keeping up with its input, try again shortly',
      headers: { 'retry-after': INPUT_FULL_RETRY_SECONDS },
    },
    reason: 'busy',
  },
};

/** Rule: POSTs must accept both JSON and SSE, GETs SSE (the spec's MUSTs; 406 otherwise). Why: the answer may be either. */
function acceptsPost(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/json') && accept.includes('text/event-stream');
}

/** The body as WireMessages, or the 400 to answer: one JSON-RPC message, or a batch of at most MAX_BATCH_SIZE. */
function messagesOf(text: string): WireMessage[] | ErrorReply {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return badRequest('Parse error: Invalid JSON', ErrorCode.ParseError);
  }
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_BATCH_SIZE) {
      return badRequest(`Invalid Request: a batch must hold 1 to ${MAX_BATCH_SIZE} messages`, ErrorCode.InvalidRequest);
    }
    const messages = value.map((item) => wireMessage(item, JSON.stringify(item)));
    return messages.every((message) => message !== undefined)
      ? (messages as WireMessage[])
      : badRequest('Parse error: Invalid JSON-RPC message', ErrorCode.ParseError);
  }
  const message = wireMessage(value, oneLine(text, value));
  return message ? [message] : badRequest('Parse error: Invalid JSON-RPC message', ErrorCode.ParseError);
}

export function createMcpEndpoint(deps: EndpointDeps): Endpoint {
  const { registry, metrics, log } = deps;

  const refuse = (res: ServerResponse, cors: OutgoingHttpHeaders, client: Caller, reason: RejectionReason, reply: ErrorReply) => {
    metrics.rejected(reason);
    if (reply.status !== 400 && reply.status !== 404) {
      deps.warnings.warn(`${reason}|${client.key}`, { client: client.address, status: reply.status, reason }, 'request refused');
    }
    replyError(res, reply, cors);
  };

  /**
   * The session a request names, or the answer: 400 without the header, 404 for an unknown or ended session,
   * and 404 too for a session another principal opened (the spec's "bind session IDs to user-specific
   * information": a session id is not a credential) or another server serves (sessions never cross).
   */
  function sessionOf(req: IncomingMessage, caller: Caller): Session | ErrorReply {
    const id = req.headers['mcp-session-id'];
    if (typeof id !== 'string') return badRequest('Bad Request: Mcp-Session-Id header is required');
    const session = registry.get(id);
    return session && session.principal === caller.principal && session.server === deps.server.name ? session : sessionNotFound;
  }

  /** Rule: a request after initialize may name any revision the bridge supports (400 otherwise); none means 2025-03-26. */
  function versionError(req: IncomingMessage): ErrorReply | undefined {
    const version = req.headers['mcp-protocol-version'];
    if (typeof version !== 'string' || isSupportedVersion(version)) return undefined;
    return badRequest(`Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
  }

  const streamHeaders = (session: Session, cors: OutgoingHttpHeaders): OutgoingHttpHeaders => ({ ...SSE_HEADERS, ...cors, 'mcp-session-id': session.id });

  function post(session: Session, messages: WireMessage[], res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders): void {
    const outcome = session.post(messages);
    if ('refused' in outcome) {
      const { reply, reason } = POST_REFUSALS[outcome.refused];
      const first = messages.find((message) => message.kind === 'request');
      return refuse(res, cors, client, reason, { ...reply, id: first ? idOf(first.message) : null });
    }
    if (!outcome.stream) return replyEmpty(res, 202, { ...cors, 'mcp-session-id': session.id });
    session.attach(outcome.stream, new SseResponse(res, streamHeaders(session, cors), deps.sse, { holdHead: true }));
  }

  async function initialize(message: WireMessage, res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders): Promise<void> {
    const id = idOf(message.message) ?? null;
    const protocolVersion = initializeVersionOf(message.message);
    if (protocolVersion === undefined) {
      return replyError(
        res,
        { ...badRequest('Invalid initialize request: protocolVersion, capabilities and clientInfo are required', ErrorCode.InvalidParams), id },
        cors,
      );
    }
    const wait = await deps.sessionRate.take(client.key);
    if (wait !== undefined) {
      return refuse(res, cors, client, 'rate', {
        status: 429,
        code: ErrorCode.BadRequest,
        message: 'Too Many Requests: too many new sessions from this client',
        id,
        headers: { 'retry-after': String(wait) },
      });
    }
    let reservation: Reservation;
    try {
      reservation = await registry.reserve(client.key, deps.server);
    } catch (error) {
      if (!(error instanceof CapacityError)) throw error;
      const [status, text] = error.scope === 'client' ? [429, 'Too Many Requests'] : [503, 'Service Unavailable'];
      return refuse(res, cors, client, 'cap', {
        status,
        code: ErrorCode.BadRequest,
        message: `${text}: ${error.message}, try again later`,
        id,
        headers: { 'retry-after': BUSY_RETRY_SECONDS },
      });
    }
    let session: Session;
    try {
      session = await deps.startSession(reservation, client, protocolVersion);
    } catch (error) {
      reservation.release();
      log.error({ err: (error as Error).message }, 'MCP server command could not be started');
      return replyError(res, { status: 502, code: ErrorCode.InternalError, message: 'Bad Gateway: the MCP server could not be started', id }, cors);
    }
    if (res.destroyed) return void session.end('not-initialized');
    post(session, [message], res, client, cors);
  }

  async function handlePost(req: IncomingMessage, res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders): Promise<void> {
    if (!acceptsPost(req.headers.accept)) {
      return replyError(res, { status: 406, code: ErrorCode.BadRequest, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' }, cors);
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      return replyError(res, { status: 415, code: ErrorCode.BadRequest, message: 'Unsupported Media Type: Content-Type must be application/json' }, cors);
    }
    const body = await readBody(req, deps.maxBodyBytes);
    if (body.tooLarge) return refuse(res, cors, client, 'size', { status: 413, code: ErrorCode.BadRequest, message: requestBodyTooLargeMessage(deps.maxBodyBytes) });
    const messages = messagesOf(body.text);
    if (!Array.isArray(messages)) return replyError(res, messages, cors);
    if (deps.modern && (await servedAsModern(deps.modern, messages, body.text, req, res, client, cors))) return;
    const initializes = messages.filter((message) => methodOf(message.message) === 'initialize' && message.kind === 'request');
    if (req.headers['mcp-session-id'] === undefined) {
      if (initializes.length === 0) {
        metrics.rejected('session');
        return replyError(res, badRequest('Bad Request: Mcp-Session-Id header is required'), cors);
      }
      if (messages.length > 1) return replyError(res, badRequest('Invalid Request: Only one initialization request is allowed', ErrorCode.InvalidRequest), cors);
      return initialize(messages[0], res, client, cors);
    }
    const session = sessionOf(req, client);
    if (isReply(session)) return refuse(res, cors, client, 'session', session);
    if (initializes.length > 0) return replyError(res, badRequest('Invalid Request: Server already initialized', ErrorCode.InvalidRequest), cors);
    const wrongVersion = versionError(req);
    if (wrongVersion) return replyError(res, wrongVersion, cors);
    post(session, messages, res, client, cors);
  }

  /**
   * Rule: with --modern, a POST of one modern message is the 2026-07-28 side's (a refusal of its envelope or
   * headers answered here), and a batch may hold none; anything else goes on as 2025-era traffic. Why: the
   * era is the body's (an `initialize` is always legacy), and a 2025 session must not change in any way.
   */
  async function servedAsModern(
    front: ModernFront,
    messages: WireMessage[],
    text: string,
    req: IncomingMessage,
    res: ServerResponse,
    client: Caller,
    cors: OutgoingHttpHeaders,
  ): Promise<boolean> {
    const eras = messages.map((message) => classify(message.message, req.headers));
    if (messages.length > 1) {
      if (eras.every((era) => era.era === 'legacy')) return false;
      replyError(res, badRequest('Bad Request: JSON-RPC batches may not contain requests for protocol revision 2026-07-28 or later', ErrorCode.InvalidRequest), cors);
      return true;
    }
    const [era] = eras;
    switch (era.era) {
      case 'legacy':
        return false;
      case 'refused':
        metrics.rejected('invalid');
        replyError(res, { status: era.status, code: era.code, message: era.message, id: era.id, data: era.data }, cors);
        return true;
      case 'modern-notification':
        replyEmpty(res, 202, cors);
        return true;
      case 'modern': {
        const message = messages[0].message as Parameters<typeof serveModern>[3];
        const peer = deps.peers.peerForNode(front.nodeOfState(message), client.fromPeer);
        // A parked call gone with its node: the client starts the call again, as for any state the bridge no longer knows.
        const unreachable = () => replyError(res, { status: 200, code: ErrorCode.InvalidParams, message: 'Invalid or expired requestState', id: era.id }, cors);
        if (peer !== undefined) await deps.peers.forward(peer, req, res, client.address, cors, { body: text, unreachable });
        else await serveModern(req, front, era, message, res, client, cors, deps.sse);
        return true;
      }
    }
  }

  function handleGet(req: IncomingMessage, res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders): void {
    if (!req.headers.accept?.includes('text/event-stream')) {
      return replyError(res, { status: 406, code: ErrorCode.BadRequest, message: 'Not Acceptable: Client must accept text/event-stream' }, cors);
    }
    const session = sessionOf(req, client);
    if (isReply(session)) return refuse(res, cors, client, 'session', session);
    const wrongVersion = versionError(req);
    if (wrongVersion) return replyError(res, wrongVersion, cors);
    const lastEventId = req.headers['last-event-id'];
    if (deps.resume && typeof lastEventId === 'string' && lastEventId !== '') {
      const resumable = session.resumable(lastEventId);
      if (!resumable) return replyError(res, badRequest('Bad Request: Last-Event-ID names no stream of this session that can be resumed'), cors);
      return session.attach(resumable.stream, new SseResponse(res, streamHeaders(session, cors), deps.sse, { holdHead: false }), resumable.after);
    }
    const stream = session.standaloneStream();
    if (!stream) {
      return replyError(res, { status: 409, code: ErrorCode.BadRequest, message: 'Conflict: Only one SSE stream is allowed per session' }, cors);
    }
    session.attach(stream, new SseResponse(res, streamHeaders(session, cors), deps.sse, { holdHead: false }));
  }

  function handleDelete(req: IncomingMessage, res: ServerResponse, client: Caller, cors: OutgoingHttpHeaders): void {
    const session = sessionOf(req, client);
    if (isReply(session)) return refuse(res, cors, client, 'session', session);
    const wrongVersion = versionError(req);
    if (wrongVersion) return replyError(res, wrongVersion, cors);
    void session.end('deleted');
    replyEmpty(res, 200, cors);
  }

  return async (req, res, client, cors) => {
    switch (req.method) {
      case 'POST':
        return handlePost(req, res, client, cors);
      case 'GET':
        return handleGet(req, res, client, cors);
      case 'DELETE':
        return handleDelete(req, res, client, cors);
      default:
        return replyError(res, { status: 405, code: ErrorCode.BadRequest, message: 'Method not allowed.', headers: { allow: 'GET, POST, DELETE' } }, cors);
    }
  };
}
