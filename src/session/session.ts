/**
 * One MCP session: its SDK transport (the HTTP side), its child process (the stdio side), the requests in
 * flight between them, and the one path by which it ends.
 */
import { randomUUID } from 'node:crypto';
import { MAX_BATCH_SIZE } from '@modelcontextprotocol/sdk/server/requestBody.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { ExitStatus } from '../child/child-process.js';
import type { Upstream, UpstreamEvents } from '../child/upstream.js';
import type { Config } from '../config.js';
import { ErrorCode, jsonRpcError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { SessionEventStore, type EventBudget } from './event-store.js';
import { InflightTable } from './inflight.js';
import { PendingMessages, routeChildMessage, type InflightRequest } from './router.js';
import { onStreamEnd } from './stream-end.js';

export type EndReason = 'deleted' | 'idle' | 'evicted' | 'child-exit' | 'child-output' | 'shutdown' | 'not-initialized';

export interface SessionHooks {
  /** The transport accepted `initialize` and assigned the id: the session must be findable before the child sees it. */
  initialized(session: Session): void;
  /** The session stopped taking requests (it may still be waiting for its child to exit). */
  ending(session: Session): void;
}

export interface SessionOptions {
  config: Config;
  log: Logger;
  hooks: SessionHooks;
  /** Shared by the event stores of all sessions; absent when resumability is off. */
  eventBudget: EventBudget | undefined;
  metrics: Metrics;
  /** The client address that opened the session (for per-client limits). */
  clientAddress: string;
}

/** A request body as the endpoint read it: parsed when it was valid JSON, else the request to let the SDK answer it. */
export interface ReadBody {
  request: Request;
  parsed?: unknown;
}

const END_MESSAGES: Record<EndReason, string> = {
  deleted: 'the session was deleted',
  idle: 'the session was idle too long',
  evicted: 'the session was evicted to make room for a new one',
  'child-exit': 'the MCP server process exited',
  'child-output': 'the MCP server process wrote an over-long line',
  shutdown: 'the bridge is shutting down',
  'not-initialized': 'the session was never initialized',
};

/** Error code the SDK uses for a request that timed out. */
const REQUEST_TIMEOUT = -32001;

function requestIdsIn(parsed: unknown): RequestId[] {
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  return messages.filter((m): m is JSONRPCMessage => isJSONRPCRequest(m)).map((m) => (m as { id: RequestId }).id);
}

/** The protocol version a POST speaks: its header, or for initialize the version it asks for; the spec's default otherwise. */
function protocolVersionOf(request: Request, parsed: unknown): string {
  const header = request.headers.get('mcp-protocol-version');
  if (header) return header;
  const asked = (parsed as { method?: unknown; params?: { protocolVersion?: unknown } } | undefined)?.params?.protocolVersion;
  return (parsed as { method?: unknown } | undefined)?.method === 'initialize' && typeof asked === 'string' ? asked : '2025-03-26';
}

/** The stream id the SDK (1.32) gives the standalone GET stream in its event store. */
const STANDALONE_STREAM_ID = '_GET_stream';

/** The SDK primes SSE streams with a resumable event id only for clients of this version or newer. */
const FIRST_RESUMABLE_VERSION = '2025-11-25';

function isEventStream(response: Response): boolean {
  return response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
}

export class Session {
  id: string | undefined;
  readonly startedAt = Date.now();
  lastUsedAt = Date.now();
  readonly ended: Promise<EndReason>;
  private resolveEnded!: (reason: EndReason) => void;
  private state: 'open' | 'ending' | 'ended' = 'open';
  private readonly transport: WebStandardStreamableHTTPServerTransport;
  private readonly upstream: Upstream;
  private readonly inflight: InflightTable;
  private readonly store: SessionEventStore | undefined;
  private readonly pending: PendingMessages;
  private standaloneOpen = false;
  private openStreams = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private exitStatus: ExitStatus | undefined;
  private log: Logger;

  get clientAddress(): string {
    return this.options.clientAddress;
  }

  /**
   * Serves one MCP session over `connect`'s upstream: a dedicated child (fresh or from the warm pool) or a
   * share of the shared child. `connect` gets the session's logger and where to deliver server messages.
   */
  constructor(
    connect: (log: () => Logger, events: UpstreamEvents) => Upstream,
    private readonly options: SessionOptions,
  ) {
    const { config, metrics } = options;
    this.log = options.log;
    metrics.sessionStarted();
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.pending = new PendingMessages(config.limits.pendingMessages);
    this.inflight = new InflightTable(config.limits.requestTimeoutMs, (request) => this.timedOut(request));
    const resume = config.resume;
    if (resume && options.eventBudget) {
      this.store = new SessionEventStore({
        maxEvents: resume.maxEventsPerSession,
        maxBytes: resume.maxBytesPerSession,
        budget: options.eventBudget,
      });
    }
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        this.id = id;
        this.log = this.log.child({ session: id.slice(0, 8) });
        this.log.info({ command: config.child.source }, 'session started');
        options.hooks.initialized(this);
      },
      keepAliveMs: config.keepAliveMs,
      maxRequestBodySize: config.limits.maxBodyBytes,
      eventStore: this.store,
      retryInterval: this.store ? resume?.retryMs : undefined,
    });
    this.transport.onmessage = (message) => this.fromClient(message);
    this.transport.onerror = (error) => this.log.debug({ err: error.message }, 'transport rejected a request');
    void this.transport.start();
    this.upstream = connect(() => this.log, {
      message: (message) => this.fromChild(message),
      ended: (cause, status) => this.onUpstreamEnded(cause, status),
    });
    this.log = this.log.child({ pid: this.upstream.pid });
    this.updateIdleTimer();
  }

  get pid(): number {
    return this.upstream.pid;
  }

  /** Rule: a session is idle when no request is in flight and no stream is open. Why: an open GET stream or a long call is a user still there. */
  isIdle(): boolean {
    return this.inflight.size === 0 && this.openStreams === 0;
  }

  async handlePost(body: ReadBody): Promise<Response> {
    this.lastUsedAt = Date.now();
    const ids = requestIdsIn(body.parsed);
    const limit = this.options.config.limits.maxInflightPerSession;
    // An oversized batch is the transport's to refuse (400), whatever is in flight.
    if (ids.length > 0 && ids.length <= MAX_BATCH_SIZE && this.inflight.size + ids.length > limit) {
      this.options.metrics.rejected('inflight');
      return jsonRpcError(429, ErrorCode.BadRequest, `Too Many Requests: at most ${limit} requests may be in flight per session`, {
        id: ids[0],
        headers: { 'Retry-After': '1' },
      });
    }
    const resumable = this.store !== undefined && protocolVersionOf(body.request, body.parsed) >= FIRST_RESUMABLE_VERSION;
    let streamId: string | undefined;
    // The SDK stores the stream's priming event synchronously inside handleRequest: that names the stream.
    if (this.store && resumable && ids.length > 0) this.store.onNewStream = (id) => (streamId ??= id);
    const handling = this.transport.handleRequest(body.request, body.parsed === undefined ? undefined : { parsedBody: body.parsed });
    if (this.store) this.store.onNewStream = undefined;
    const response = await handling;
    if (!isEventStream(response)) return response;
    if (streamId !== undefined) this.inflight.bindStream(streamId, ids);
    return this.trackStream(response, () => this.inflight.setStreamState(ids, streamId !== undefined ? 'resumable' : 'gone'));
  }

  async handleGet(request: Request): Promise<Response> {
    this.lastUsedAt = Date.now();
    const lastEventId = request.headers.get('last-event-id');
    const resumed = lastEventId !== null ? this.store?.streamIdOf(lastEventId) : undefined;
    const response = await this.transport.handleRequest(request);
    if (!isEventStream(response)) return response;
    if (resumed !== undefined && resumed !== STANDALONE_STREAM_ID) {
      // A POST stream resumed after a disconnect: its calls still in flight are reachable again.
      const requests = this.inflight.onStream(resumed);
      this.inflight.setStreamState(requests, 'open');
      return this.trackStream(response, () => this.inflight.setStreamState(requests, 'resumable'));
    }
    this.standaloneOpen = true;
    this.flushPending();
    return this.trackStream(response, () => {
      this.standaloneOpen = false;
    });
  }

  async handleDelete(request: Request): Promise<Response> {
    this.lastUsedAt = Date.now();
    const response = await this.transport.handleRequest(request);
    if (response.status === 200) void this.end('deleted');
    return response;
  }

  /** Ends the session once: fails what is in flight, closes its streams, ends its child. */
  end(reason: EndReason): Promise<EndReason> {
    if (this.state !== 'open') return this.ended;
    this.state = 'ending';
    clearTimeout(this.idleTimer);
    this.options.hooks.ending(this);
    void this.finish(reason);
    return this.ended;
  }

  private async finish(reason: EndReason): Promise<void> {
    const failures = this.inflight.clear().map((id) => this.failRequest(id, reason));
    await Promise.allSettled(failures);
    const { messages, dropped } = this.pending.take();
    if (messages.length + dropped > 0) {
      this.log.warn({ undelivered: messages.length + dropped }, 'messages never found a stream before the session ended');
    }
    await this.transport.close();
    this.store?.clear();
    const graceMs = reason === 'shutdown' ? Math.min(this.options.config.killGraceMs, this.options.config.shutdownTimeoutMs) : this.options.config.killGraceMs;
    const status = await this.upstream.close(graceMs);
    this.state = 'ended';
    this.options.metrics.sessionEnded(reason);
    this.log.info(
      { reason, durationMs: Date.now() - this.startedAt, exitCode: status?.code, signal: status?.signal },
      'session ended',
    );
    this.resolveEnded(reason);
  }

  private failRequest(id: RequestId, reason: EndReason): Promise<void> {
    const status = this.exitStatus;
    const detail = reason === 'child-exit' && status ? ` (${status.signal ? `signal ${status.signal}` : `exit code ${status.code}`})` : '';
    return this.transport
      .send({
        jsonrpc: '2.0',
        id,
        error: {
          code: ErrorCode.InternalError,
          message: `Request failed: ${END_MESSAGES[reason]}${detail}`,
          data: reason === 'child-exit' && status ? { exitCode: status.code, signal: status.signal } : undefined,
        },
      })
      .catch((error: Error) => this.log.debug({ err: error.message }, 'could not deliver a failure'));
  }

  private onUpstreamEnded(cause: 'exit' | 'overflow', status: ExitStatus | undefined): void {
    this.exitStatus = status;
    if (this.state !== 'open') return;
    if (cause === 'exit') this.log.warn({ exitCode: status?.code, signal: status?.signal }, 'child exited');
    void this.end(cause === 'exit' ? 'child-exit' : 'child-output');
  }

  private fromClient(message: JSONRPCMessage): void {
    if (isJSONRPCRequest(message)) {
      const meta = (message.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
      const token = meta?.progressToken;
      this.inflight.add(message.id, message.method, typeof token === 'string' || typeof token === 'number' ? token : undefined);
      this.updateIdleTimer();
    } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      this.cancelled((message.params as { requestId?: RequestId } | undefined)?.requestId);
    }
    this.options.metrics.relayed('to_child', 1, 0);
    if (!this.upstream.send(message) && isJSONRPCRequest(message)) {
      this.completed(message.id);
      void this.failRequest(message.id, 'child-exit');
    }
  }

  /**
   * Rule: a request the client cancelled stops counting as in flight and its stream is closed; the
   * cancellation itself still goes to the child. Why: the child should not answer it, and the stream would
   * otherwise stay open waiting for that answer.
   */
  private cancelled(requestId: RequestId | undefined): void {
    if (requestId === undefined || !this.completed(requestId)) return;
    this.transport.closeSSEStream(requestId);
  }

  private fromChild(message: JSONRPCMessage): void {
    this.options.metrics.relayed('to_client', 1, 0);
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const id = (message as { id?: RequestId }).id;
      const request = id === undefined ? undefined : this.completed(id);
      if (!request) {
        this.log.debug({ id }, 'dropped a response to no request in flight');
        return;
      }
      this.recordAnswer(request);
      this.deliver(message, request.id);
      return;
    }
    const route = routeChildMessage(message, this.inflight.values(), this.standaloneOpen);
    if (route.kind === 'hold') {
      if (this.pending.push(message) && this.pending.size === this.options.config.limits.pendingMessages) {
        this.log.warn({ limit: this.options.config.limits.pendingMessages }, 'no stream open: dropping the oldest waiting messages');
      }
      return;
    }
    this.deliver(message, route.kind === 'request' ? route.id : undefined);
  }

  /** Forgets a request that got its answer (or was cancelled); returns it, or undefined if it was not in flight. */
  private completed(id: RequestId): InflightRequest | undefined {
    const request = this.inflight.complete(id);
    if (request) this.updateIdleTimer();
    return request;
  }

  private recordAnswer(request: InflightRequest): void {
    const now = Date.now();
    this.options.metrics.requestDone(request.method, (now - request.startedAt) / 1000);
    if (request.method === 'initialize') this.options.metrics.initialized((now - this.startedAt) / 1000);
  }

  /**
   * Rule: a request unanswered after --request-timeout is cancelled at the child and answered with an error.
   * Why: a hung server must not hold a client (or a session's in-flight slot) forever; 300 s is claude.ai's own limit.
   */
  private timedOut({ id }: InflightRequest): void {
    const seconds = this.options.config.limits.requestTimeoutMs / 1000;
    this.updateIdleTimer();
    this.options.metrics.rejected('timeout');
    this.log.warn({ id, timeoutSeconds: seconds }, 'request timed out; cancelling it');
    this.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: `timed out after ${seconds} s` } });
    this.deliver({ jsonrpc: '2.0', id, error: { code: REQUEST_TIMEOUT, message: `Request timed out after ${seconds} s` } }, id);
  }

  private deliver(message: JSONRPCMessage, relatedRequestId: RequestId | undefined): void {
    this.transport
      .send(message, relatedRequestId === undefined ? undefined : { relatedRequestId })
      .catch((error: Error) => this.log.debug({ err: error.message }, 'client gone; message not delivered'));
  }

  private flushPending(): void {
    const { messages, dropped } = this.pending.take();
    if (dropped > 0) this.log.warn({ dropped }, 'messages were dropped while no stream was open');
    for (const message of messages) this.deliver(message, undefined);
  }

  private trackStream(response: Response, onClosed: () => void): Response {
    this.openStreams++;
    this.updateIdleTimer();
    onStreamEnd(response, () => {
      this.openStreams--;
      onClosed();
      this.updateIdleTimer();
    });
    return response;
  }

  private updateIdleTimer(): void {
    if (this.state !== 'open') return;
    if (!this.isIdle()) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    } else if (this.idleTimer === undefined) {
      this.idleTimer = setTimeout(() => void this.end('idle'), this.options.config.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }
}
