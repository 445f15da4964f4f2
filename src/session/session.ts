/**
 * One MCP session: its streams, the requests in flight, where each child message goes, its upstream (a
 * child of its own or a share of the shared one), and the one path by which it ends. It knows nothing of
 * HTTP: the endpoint hands it messages and connections (EventSink), and renders its refusals.
 */
import type { ExitStatus } from '../child/child-process.js';
import type { Upstream, UpstreamEnd, UpstreamEvents } from '../child/upstream.js';
import type { Config, ServerConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../metrics.js';
import { errorResponse, idOf, methodOf, ownMessage, progressTokenOf, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import { primesStreams } from '../protocol/versions.js';
import { Congestion } from './congestion.js';
import { END_MESSAGES, END_OF_UPSTREAM, type EndReason } from './end-reason.js';
import { InflightTable, type InflightRequest } from './inflight.js';
import { OutboundLog, type EvictionCause, type OutboundBudget, type StoredEvent } from './outbound-log.js';
import { loggedSessionId } from './session-id.js';
import { routeChildMessage } from './router.js';
import { Stream, parseEventId, type EventSink } from './stream.js';
import { INVALID_PARAMS, type ToolFilter } from './tool-filter.js';

/** Why the session refuses a POST; the endpoint turns each into its HTTP answer. */
export type PostRefusal = 'ended' | 'too-many-inflight' | 'duplicate-id' | 'input-full';

export interface SessionHooks {
  /** The session stopped taking requests (it may still be waiting for its child to exit). */
  ending(session: Session): void;
}

export interface SessionOptions {
  id: string;
  config: Config;
  /** The server it serves: its command, idle timeout and name. */
  server: ServerConfig;
  /** The server's tool filter, if it has one. */
  tools: ToolFilter | undefined;
  /** The server's logger (named for it when there are several). */
  log: Logger;
  hooks: SessionHooks;
  /** Shared by every session's outbound log. */
  budget: OutboundBudget;
  metrics: ServerMetrics;
  /** The client that opened the session: what per-client limits count it by, and its address for logs. */
  clientKey: string;
  clientAddress: string;
  /** Who opened it (a token, an OAuth grant, or everyone when there is no authentication): only they may use it. */
  principal: string;
  /** The protocol version the client's initialize asks for (the child's answer may settle another). */
  protocolVersion: string;
}

/** JSON-RPC error codes the bridge answers with: the SDK's for a timeout, the spec's internal error otherwise. */
const REQUEST_TIMEOUT = -32001;
const INTERNAL_ERROR = -32603;

/** Sessions started by this bridge (stream ids need only differ between sessions; randomBytes costs ~0.1 ms here). */
let sessionSerial = 0;

export class Session {
  readonly id: string;
  readonly startedAt = performance.now();
  lastUsedAt = performance.now();
  readonly ended: Promise<EndReason>;
  private resolveEnded!: (reason: EndReason) => void;
  private state: 'open' | 'ending' | 'ended' = 'open';
  private protocolVersion: string;
  private readonly upstream: Upstream;
  private readonly inflight = new InflightTable();
  private readonly outbound: OutboundLog;
  /** Streams that may still be written or resumed, by id. */
  private readonly streams = new Map<string, Stream>();
  private standalone: Stream | undefined;
  /** Distinct for every session of this bridge, so that a Last-Event-ID of one session names no stream of another. */
  private readonly streamPrefix = `${(++sessionSerial).toString(36)}-`;
  private streamCount = 0;
  private openSinks = 0;
  private readonly congestion: Congestion;
  private idleSince: number | undefined;
  /** Since when nothing has been in flight. */
  private quietSince = performance.now();
  private exitStatus: ExitStatus | undefined;
  private warnedOfEviction = false;
  private logger: Logger;

  /**
   * Serves one MCP session over `connect`'s upstream. `connect` gets the session's logger and where to
   * deliver server messages.
   */
  constructor(
    connect: (log: () => Logger, events: UpstreamEvents) => Upstream,
    private readonly options: SessionOptions,
  ) {
    const { config } = options;
    this.id = options.id;
    this.protocolVersion = options.protocolVersion;
    options.metrics.sessionStarted();
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    const { limits } = config;
    this.outbound = new OutboundLog({ maxEvents: limits.maxEventsPerSession, maxBytes: limits.maxBytesPerSession }, options.budget, (event, cause) =>
      this.evicted(event, cause),
    );
    this.upstream = connect(() => this.logger, {
      message: (message) => this.fromChild(message),
      ended: (cause, status) => this.upstreamEnded(cause, status),
    });
    this.congestion = new Congestion(limits.maxStreamBufferBytes, {
      paused: () => {
        this.upstream.pause();
        options.metrics.limitHit('stream-buffer');
        this.logger.warn({ limit: limits.maxStreamBufferBytes }, 'a client is not keeping up with its stream; pausing the child');
      },
      resumed: () => this.upstream.resume(),
    });
    // One child logger with every binding: pino serialises bindings on each child() call.
    this.logger = options.log.child({ client: options.clientAddress, session: loggedSessionId(this.id), childPid: this.upstream.pid });
  }

  get clientKey(): string {
    return this.options.clientKey;
  }

  /** The name of the server it serves. */
  get server(): string {
    return this.options.server.name;
  }

  get principal(): string {
    return this.options.principal;
  }

  get pid(): number | undefined {
    return this.upstream.pid;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Rule: a session is idle when no request is in flight and no stream is connected. Why: either is a user still there. */
  isIdle(): boolean {
    return this.inflight.size === 0 && this.openSinks === 0;
  }

  /** Nothing in flight for at least `ms` (a stream may be open). */
  isQuietFor(ms: number, now: number): boolean {
    return this.inflight.size === 0 && now - this.quietSince >= ms;
  }

  /** Forwards a POST's messages to the child; returns the stream that carries the answers to its requests, if it has any. */
  post(messages: WireMessage[]): { refused: PostRefusal } | { stream: Stream | undefined } {
    if (this.state !== 'open') return { refused: 'ended' };
    this.lastUsedAt = performance.now();
    const requests = messages.filter((message) => message.kind === 'request');
    const ids = requests.map((request) => idOf(request.message) as RequestId);
    if (ids.length > 0 && this.inflight.size + ids.length > this.options.config.limits.maxInflightPerSession) {
      return { refused: 'too-many-inflight' };
    }
    if (new Set(ids).size < ids.length || ids.some((id) => this.inflight.has(id))) return { refused: 'duplicate-id' };
    if (!this.upstream.accepting()) {
      this.options.metrics.limitHit('input-buffer');
      return { refused: 'input-full' };
    }
    const stream = ids.length > 0 ? this.newStream(ids, this.resumableStreams()) : undefined;
    for (const message of messages) this.fromClient(message, stream);
    return { stream };
  }

  /** The session's standalone stream for a GET without Last-Event-ID; undefined when one is already connected (409). */
  standaloneStream(): Stream | undefined {
    const stream = this.standaloneOrNew();
    return stream.sink ? undefined : stream;
  }

  /** The stream a Last-Event-ID names and the sequence number after which to replay; undefined when this session has none such. */
  resumable(lastEventId: string): { stream: Stream; after: number } | undefined {
    const parsed = parseEventId(lastEventId);
    const stream = parsed && this.streams.get(parsed.streamId);
    if (!parsed || !stream?.resumable || parsed.seq >= this.outbound.nextSequence) return undefined;
    return { stream, after: parsed.seq };
  }

  /**
   * Connects a stream to a client's connection. `resumeAfter`: a Last-Event-ID's sequence number; the
   * stream's kept events after it are written first, and any connection it still had is cut.
   */
  attach(stream: Stream, sink: EventSink, resumeAfter?: number): void {
    if (this.state !== 'open') return sink.end();
    this.lastUsedAt = performance.now();
    if (stream.sink) this.cut(stream, stream.sink);
    if (resumeAfter !== undefined) {
      this.rewind(stream, resumeAfter);
      this.logger.debug({ stream: stream.id, after: resumeAfter, replaying: stream.queue.length }, 'stream resumed');
    }
    stream.sink = sink;
    this.openSinks++;
    this.idleSince = undefined;
    sink.listen({ drained: () => this.drain(stream), closed: (finished) => this.sinkClosed(stream, sink, finished) });
    if (resumeAfter === undefined && stream.resumable) sink.prime(stream.eventId(stream.cursor), this.options.config.resume?.retryMs);
    if (resumeAfter !== undefined && stream.lostThrough > resumeAfter) this.answerTheLost(stream, resumeAfter);
    this.drain(stream);
  }

  /** Ends the session once: answers what is in flight, closes its streams, ends its child. */
  end(reason: EndReason): Promise<EndReason> {
    if (this.state !== 'open') return this.ended;
    this.state = 'ending';
    this.options.hooks.ending(this);
    void this.finish(reason);
    return this.ended;
  }

  /** Called every few hundred ms by the registry: timeouts, idleness, stalled clients. */
  tick(now: number): void {
    if (this.state !== 'open') return;
    const { limits } = this.options.config;
    const { idleTimeoutMs } = this.options.server;
    for (const request of this.inflight.takeExpired(now - limits.requestTimeoutMs)) this.timedOut(request);
    if (!this.isIdle()) this.idleSince = undefined;
    else if (this.idleSince === undefined) this.idleSince = now;
    else if (now - this.idleSince >= idleTimeoutMs) return void this.end('idle');
    if (this.congestion.stalledFor(now) >= limits.stallTimeoutMs) {
      this.options.metrics.limitHit('stall');
      this.logger.warn({ stallTimeoutSeconds: limits.stallTimeoutMs / 1000 }, 'a client left its stream unread for --stall-timeout; ending the session');
      void this.end('stalled');
    }
  }

  private async finish(reason: EndReason): Promise<void> {
    for (const request of this.inflight.clear()) this.failRequest(request, reason);
    // What fits under each stream's bound is written and the stream ended; a client that is not keeping up
    // (or stalled) is cut off, since nothing it is owed can be kept once the session is gone.
    for (const stream of this.streams.values()) {
      const sink = stream.sink;
      if (!sink) continue;
      if (reason !== 'stalled') this.drain(stream);
      if (stream.sink !== sink) continue;
      if (reason === 'stalled' || stream.queue.length > 0) this.cut(stream, sink);
      else sink.end();
    }
    const { killGraceMs, shutdownTimeoutMs } = this.options.config;
    const status = await this.upstream.close(reason === 'shutdown' ? Math.min(killGraceMs, shutdownTimeoutMs) : killGraceMs);
    this.outbound.close();
    this.streams.clear();
    this.state = 'ended';
    this.options.metrics.sessionEnded(reason);
    const durationMs = Math.round(performance.now() - this.startedAt);
    this.logger.info({ reason, durationMs, exitCode: status?.code, signal: status?.signal }, 'session ended');
    this.resolveEnded(reason);
  }

  private newStream(requests: RequestId[], resumable: boolean): Stream {
    const stream = new Stream(`${this.streamPrefix}${++this.streamCount}`, requests, resumable);
    this.streams.set(stream.id, stream);
    return stream;
  }

  private standaloneOrNew(): Stream {
    this.standalone ??= this.newStream([], this.resumableStreams());
    return this.standalone;
  }

  /** New streams are resumable when resumption is on and the session's protocol version primes them. */
  private resumableStreams(): boolean {
    return this.options.config.resume !== undefined && primesStreams(this.protocolVersion);
  }

  private fromClient(message: WireMessage, stream: Stream | undefined): void {
    if (message.kind === 'request' && stream) {
      const id = idOf(message.message) as RequestId;
      const method = methodOf(message.message) as string;
      const hidden = method === 'tools/call' ? this.options.tools?.hiddenCall(message) : undefined;
      if (hidden !== undefined) return this.refuseHiddenTool(stream, id, hidden);
      this.inflight.add({ id, method, progressToken: progressTokenOf(message.message), stream, startedAt: performance.now() });
      this.idleSince = undefined;
    } else if (methodOf(message.message) === 'notifications/cancelled') {
      this.cancelled((message.message as { params?: { requestId?: RequestId } }).params?.requestId);
    }
    this.options.metrics.relayed('to_child', 1, 0);
    if (this.upstream.send(message) || message.kind !== 'request') return;
    const request = this.completed(idOf(message.message) as RequestId);
    if (request) this.answer(request.stream, request.id, this.failure(request.id, 'child-exit'));
  }

  /**
   * Rule: a call of a tool the server's filter hides is answered as an unknown tool and never reaches the
   * child. Why: hiding it from the listing alone would not stop a client that knows its name.
   */
  private refuseHiddenTool(stream: Stream, id: RequestId, name: string): void {
    this.logger.debug({ id, tool: name }, 'refused a call of a hidden tool');
    this.answer(stream, id, errorResponse(id, INVALID_PARAMS, `Unknown tool: ${name}`));
  }

  /**
   * Rule: a request the client cancelled stops counting as in flight and its stream ends once nothing else
   * is owed on it; the cancellation itself still goes to the child. Why: the child should not answer it, and
   * the stream would otherwise wait for that answer.
   */
  private cancelled(requestId: RequestId | undefined): void {
    const request = requestId === undefined ? undefined : this.completed(requestId);
    if (!request) return;
    request.stream.unanswered.delete(request.id);
    this.finishIfAnswered(request.stream);
  }

  private fromChild(message: WireMessage): void {
    this.options.metrics.relayed('to_client', 1, 0);
    if (this.state !== 'open') return;
    if (message.kind === 'response') {
      const request = this.completed(idOf(message.message) as RequestId);
      if (!request) {
        this.logger.debug({ id: idOf(message.message) }, 'dropped a response to no request in flight');
        return;
      }
      this.recordAnswer(request, message);
      const tools = this.options.tools;
      this.answer(request.stream, request.id, tools && request.method === 'tools/list' ? tools.listed(message) : message);
      return;
    }
    const owner = routeChildMessage(message.message, this.inflight.values(), this.standalone?.sink !== undefined);
    this.deliver(owner ? owner.stream : this.standaloneOrNew(), message, undefined);
  }

  /** Puts a request's answer on its stream, which ends once everything before it is written. */
  private answer(stream: Stream, id: RequestId, message: WireMessage): void {
    stream.unanswered.delete(id);
    const event = this.deliver(stream, message, id);
    if (event) stream.answeredAt.set(id, event.seq);
    this.finishIfAnswered(stream);
  }

  private deliver(stream: Stream, message: WireMessage, answers: RequestId | undefined): StoredEvent | undefined {
    if (stream.state === 'gone') {
      this.logger.debug({ id: answers }, 'client gone; message not delivered');
      return undefined;
    }
    const event = this.outbound.append(stream, message.text, answers);
    if (event.dropped) return undefined;
    if (stream.sink && stream.queue.length === 0 && stream.sink.backlog < this.options.config.limits.maxStreamBufferBytes) {
      this.write(stream, event);
    } else {
      stream.queue.push(event);
      stream.queuedBytes += event.bytes;
      if (stream.isStandalone && !stream.sink) this.boundPending(stream);
    }
    this.congestion.update(stream);
    return event;
  }

  private write(stream: Stream, event: StoredEvent): void {
    (stream.sink as EventSink).write(stream.resumable ? stream.eventId(event.seq) : undefined, event.text);
    stream.cursor = event.seq;
    this.outbound.written(event);
  }

  /** Writes what waits for the stream's connection while the connection has room. */
  private drain(stream: Stream): void {
    const sink = stream.sink;
    if (!sink) return;
    const bound = this.options.config.limits.maxStreamBufferBytes;
    let taken = 0;
    while (taken < stream.queue.length && sink.backlog < bound && stream.sink === sink) {
      const event = stream.queue[taken++];
      if (event.dropped) continue;
      stream.queuedBytes -= event.bytes;
      this.write(stream, event);
    }
    stream.queue = stream.queue.slice(taken);
    this.congestion.update(stream);
    this.finishIfAnswered(stream);
  }

  /** A stream whose requests are all answered ends its connection once its queue is written. */
  private finishIfAnswered(stream: Stream): void {
    if (!stream.answered || stream.queue.length > 0) return;
    if (stream.sink) stream.sink.end();
    else if (!stream.resumable) this.retire(stream);
  }

  private sinkClosed(stream: Stream, sink: EventSink, finished: boolean): void {
    if (stream.sink !== sink) return; // replaced by a newer connection, or already detached
    stream.sink = undefined;
    this.openSinks--;
    if (this.state !== 'open') return;
    if (finished && stream.answered && stream.queue.length === 0) {
      this.retire(stream);
    } else if (stream.state === 'gone') {
      // Nobody can come back for it: what waits for it goes, and its remaining answers will be dropped.
      for (const event of stream.queue) this.outbound.discard(event);
      stream.queue = [];
      stream.queuedBytes = 0;
      this.retire(stream);
    }
    this.congestion.update(stream);
  }

  /** Cuts a stream's connection: a newer one takes over, its client stalled, or it can no longer be delivered whole. */
  private cut(stream: Stream, sink: EventSink): void {
    this.sinkClosed(stream, sink, false);
    sink.cut();
  }

  /** The stream is done with: it can be neither written nor resumed. */
  private retire(stream: Stream): void {
    this.streams.delete(stream.id);
    this.outbound.releaseStream(stream);
    stream.queue = [];
    stream.queuedBytes = 0;
  }

  /** A resume: the stream's queue becomes its kept events after the client's cursor. */
  private rewind(stream: Stream, after: number): void {
    stream.queue = this.outbound.eventsAfter(stream, after);
    stream.queuedBytes = stream.queue.reduce((sum, event) => sum + event.bytes, 0);
    stream.cursor = after;
  }

  /**
   * Rule: a resume whose stream lost events after the client's cursor gets, for each of its requests whose
   * answer is not among what is left, an error answer (a call still in flight is cancelled at the child).
   * Why: the client asked for everything since its cursor and cannot be given it; an explicit failure is
   * better than a call that waits for an answer that will never come.
   */
  private answerTheLost(stream: Stream, after: number): void {
    const kept = new Set(stream.queue.map((event) => event.answers));
    let lost = 0;
    for (const id of stream.requests) {
      const at = stream.answeredAt.get(id);
      if (at !== undefined && (at <= after || kept.has(id))) continue;
      lost++;
      const request = this.completed(id);
      if (request) this.cancelAtChild(id, 'its stream lost messages');
      stream.answeredAt.delete(id);
      this.answer(stream, id, errorResponse(id, INTERNAL_ERROR, 'Request failed: messages of its stream were dropped while the client was away or reading too slowly'));
    }
    this.logger.warn({ stream: stream.id, lostThrough: stream.lostThrough, after, failedRequests: lost }, 'a resumed stream had lost messages');
  }

  private evicted(event: StoredEvent, cause: EvictionCause): void {
    const stream = event.stream;
    stream.lostThrough = Math.max(stream.lostThrough, event.seq);
    this.options.metrics.limitHit(cause === 'budget' ? 'total-buffer' : 'session-buffer');
    if (!this.warnedOfEviction) {
      this.warnedOfEviction = true;
      const limit = cause === 'budget' ? '--max-total-buffer' : '--max-session-buffer';
      this.logger.warn({ limit }, `messages kept for this session's client passed ${limit}: dropping the least needed`);
    }
    if (!event.written) {
      stream.queuedBytes -= event.bytes;
      // It can no longer be delivered whole: cut the connection, so that a resume tells the client what is missing.
      if (stream.sink && !stream.isStandalone) this.cut(stream, stream.sink);
    }
    if (stream.answered && !stream.sink && !this.outbound.holds(stream)) this.retire(stream);
    this.congestion.update(stream);
  }

  /** Rule: past --max-pending messages or bytes waiting for a GET that is not open, the oldest go. Why: nobody may ever open one. */
  private boundPending(stream: Stream): void {
    const { pendingMessages, pendingBytes } = this.options.config.limits;
    let dropped = 0;
    while (stream.queue.length > pendingMessages || stream.queuedBytes > pendingBytes) {
      const event = stream.queue.shift() as StoredEvent;
      if (event.dropped) continue;
      stream.queuedBytes -= event.bytes;
      this.outbound.discard(event);
      dropped++;
    }
    if (dropped === 0) return;
    this.options.metrics.limitHit('pending');
    this.logger.warn({ dropped, limit: pendingMessages, limitBytes: pendingBytes }, 'no GET stream open: dropped the oldest waiting messages');
  }

  /** Forgets a request that got its answer (or was cancelled); returns it, or undefined if it was not in flight. */
  private completed(id: RequestId): InflightRequest | undefined {
    const request = this.inflight.complete(id);
    if (request && this.inflight.size === 0) this.quietSince = performance.now();
    return request;
  }

  private recordAnswer(request: InflightRequest, message: WireMessage): void {
    const now = performance.now();
    this.options.metrics.requestDone(request.method, (now - request.startedAt) / 1000);
    if (request.method !== 'initialize') return;
    this.options.metrics.initialized((now - this.startedAt) / 1000);
    const result = (message.message as { result?: { protocolVersion?: unknown } }).result;
    if (!result) {
      // The child refused to initialize: once its answer is delivered, there is no session.
      setImmediate(() => void this.end('not-initialized'));
      return;
    }
    if (typeof result.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
    this.logger.info({ protocolVersion: this.protocolVersion, command: this.options.server.child.command }, 'session started');
  }

  private failure(id: RequestId, reason: EndReason): WireMessage {
    const status = this.exitStatus;
    const exit = reason === 'child-exit' && status;
    const detail = exit ? ` (${status.signal ? `signal ${status.signal}` : `exit code ${status.code}`})` : '';
    const data = exit ? { exitCode: status.code, signal: status.signal } : undefined;
    return errorResponse(id, INTERNAL_ERROR, `Request failed: ${END_MESSAGES[reason]}${detail}`, data);
  }

  private failRequest(request: InflightRequest, reason: EndReason): void {
    this.answer(request.stream, request.id, this.failure(request.id, reason));
  }

  /**
   * Rule: a request unanswered after --request-timeout is cancelled at the child and answered with an error.
   * Why: a hung server must not hold a client (or a session's in-flight slot) forever; 300 s is claude.ai's own limit.
   */
  private timedOut(request: InflightRequest): void {
    if (this.inflight.size === 0) this.quietSince = performance.now();
    const seconds = this.options.config.limits.requestTimeoutMs / 1000;
    this.options.metrics.rejected('timeout');
    this.logger.warn({ id: request.id, timeoutSeconds: seconds }, 'request timed out; cancelling it');
    this.cancelAtChild(request.id, `timed out after ${seconds} s`);
    this.answer(request.stream, request.id, errorResponse(request.id, REQUEST_TIMEOUT, `Request timed out after ${seconds} s`));
  }

  private cancelAtChild(requestId: RequestId, reason: string): void {
    this.upstream.send(ownMessage({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason } }));
  }

  private upstreamEnded(cause: UpstreamEnd, status: ExitStatus | undefined): void {
    this.exitStatus = status;
    if (this.state !== 'open') return;
    if (cause === 'exit') this.logger.warn({ exitCode: status?.code, signal: status?.signal }, 'child exited');
    void this.end(END_OF_UPSTREAM[cause]);
  }
}
