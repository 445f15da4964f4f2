/**
 * One server's 2026-07-28 side: its requests served by 2025-era children (ModernChildren), its parked
 * calls and its listen streams, all bounded. The HTTP endpoint hands it classified requests and the
 * response streams to answer on; the 2025 sessions of the same server never meet these children.
 */
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { progressTokenOf, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import type { ToolFilter } from '../session/tool-filter.js';
import { ClientQuota } from './client-quota.js';
import { ListenStream, listenFilterOf } from './listen-streams.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { SharedChild, SharedUpstream } from '../child/shared-child.js';
import { ModernCall, type CallContext, type CallMode, type Leg, type LegSink } from './modern-call.js';
import type { ModernChildren } from './modern-children.js';
import { ModernError, type ModernRequest } from './modern-request.js';
import { discoverResult } from './modern-result.js';
import { ParamHeaders } from './param-headers.js';
import type { RequestStateCodec } from './request-state.js';

export interface ModernLimits {
  /** Calls parked for their client's answers at once, and per client. */
  maxParked: number;
  maxParkedPerClient: number;
  parkTtlMs: number;
  /** Listen streams open at once, and per client. */
  maxListeners: number;
  maxListenersPerClient: number;
  requestTimeoutMs: number;
  /** Calls one client may have running at once. */
  maxInflightPerClient: number;
  maxStreamBytes: number;
  killGraceMs: number;
}

export interface ModernFrontDeps {
  children: ModernChildren;
  codec: RequestStateCodec;
  nodeId: string;
  tools: ToolFilter | undefined;
  limits: ModernLimits;
  log: Logger;
}

/** What the endpoint writes for a request the front answers without a stream. */
export type Answer = { status: 200 | 400; body: Record<string, unknown> } | { status: 429 | 502 | 503; message: string };

const BUSY: Answer = { status: 503, message: 'Service Unavailable: every MCP server process is busy, try again later' };
const INPUT_FULL: Answer = { status: 503, message: 'Service Unavailable: the MCP server is not keeping up with its input, try again shortly' };
const DRAINING: Answer = { status: 503, message: 'Service Unavailable: this node is shutting down, try another' };
const LISTENERS_FULL: Answer = { status: 503, message: 'Service Unavailable: too many listen streams, try again later' };
const TOO_MANY: Answer = { status: 429, message: 'Too Many Requests: too many calls in flight from this client' };

/** Calls each client has running (parked ones included), against a bound. */
class InflightCount {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Rule: a client may have `max` calls at once (as a session may, --max-inflight); one more is refused with 429. Why: each holds a child's request and a stream. */
  begin(clientKey: string): boolean {
    const count = this.counts.get(clientKey) ?? 0;
    if (count >= this.max) return false;
    this.counts.set(clientKey, count + 1);
    return true;
  }

  end(clientKey: string): void {
    const count = (this.counts.get(clientKey) ?? 1) - 1;
    if (count > 0) this.counts.set(clientKey, count);
    else this.counts.delete(clientKey);
  }
}

/** The in-band error of a requestState the bridge did not issue, altered, replayed or let expire (the SDK's wording). */
const invalidState = (id: RequestId) => ({ jsonrpc: '2.0', id, error: { code: ModernError.InvalidParams, message: 'Invalid or expired requestState' } });

export class ModernFront {
  private readonly parked: ClientQuota<ModernCall>;
  /** Listen streams: the bridge's own (for a 2025-era child) and those passed on to a 2026-07-28 child. */
  private readonly listeners: ClientQuota<ListenStream | ModernCall>;
  private readonly context: CallContext;
  private readonly paramHeaders = new ParamHeaders();
  private readonly running: InflightCount;
  /** Every call begun and not over (running or parked): what a drain waits for and a shutdown answers. */
  private readonly calls = new Set<ModernCall>();
  private draining = false;

  constructor(private readonly deps: ModernFrontDeps) {
    const { limits } = deps;
    this.parked = new ClientQuota(limits.maxParked, limits.maxParkedPerClient);
    this.running = new InflightCount(limits.maxInflightPerClient);
    this.listeners = new ClientQuota(limits.maxListeners, limits.maxListenersPerClient);
    this.context = {
      nodeId: deps.nodeId,
      codec: deps.codec,
      parked: this.parked,
      parkTtlMs: limits.parkTtlMs,
      requestTimeoutMs: limits.requestTimeoutMs,
      maxStreamBytes: limits.maxStreamBytes,
      tools: deps.tools,
      toolsListed: (tools) => this.paramHeaders.listed(tools),
      callEnded: (call) => {
        this.calls.delete(call);
        this.running.end(call.clientKey);
      },
      log: deps.log,
      killGraceMs: limits.killGraceMs,
    };
  }

  /** The node a retry's requestState names (unchecked: to pass it on there), if it is a bridge's. */
  nodeOfState(message: JSONRPCRequest): string | undefined {
    return this.deps.codec.nodeOf((message.params as { requestState?: unknown } | undefined)?.requestState);
  }

  /** A list_changed of one of the children, for every listen stream. */
  listChanged(wire: WireMessage): void {
    for (const stream of this.listeners.all()) if (stream instanceof ListenStream) stream.listChanged(wire);
  }

  /**
   * `server/discover`: the InitializeResult of one of the caller's children initialized with its
   * capabilities. `owner` is the caller (whose children may serve it).
   */
  async discover(request: ModernRequest, owner: string): Promise<Answer> {
    const share = this.deps.children.attach(owner, request.clientCapabilities, () => this.deps.log, { message: () => undefined, ended: () => undefined });
    if (!share) return BUSY;
    try {
      const initialize = await share.child.initializeResult();
      // A 2026-07-28 child's own DiscoverResult goes out as it is.
      const result = share.child.era === 'modern' ? initialize : discoverResult(initialize);
      return { status: 200, body: { jsonrpc: '2.0', id: request.id, result } };
    } catch (error) {
      return { status: 200, body: { jsonrpc: '2.0', id: request.id, error: { code: -32603, message: `Internal error: ${(error as Error).message}` } } };
    } finally {
      void share.upstream.close(this.deps.limits.killGraceMs);
    }
  }

  /**
   * A call (or a retry of a parked one): answered on the leg `openLeg` makes, or without a stream when it
   * cannot start. `owner` is whom the call counts toward, whose children serve it, and who alone may retry
   * it; `gone` says whether that client has left meanwhile (the wait for a child's start is long).
   */
  async call(
    request: ModernRequest,
    message: JSONRPCRequest,
    headers: IncomingHttpHeaders,
    owner: string,
    openLeg: () => LegSink,
    gone: () => boolean,
  ): Promise<Answer | undefined> {
    const params = (message.params ?? {}) as { requestState?: unknown; inputResponses?: unknown; name?: unknown; arguments?: unknown };
    const mismatch = request.method === 'tools/call' && typeof params.name === 'string' ? this.paramHeaders.mismatch(params.name, params.arguments, headers) : undefined;
    if (mismatch) {
      const error = { code: ModernError.HeaderMismatch, message: `Bad Request: the request headers and body disagree: ${mismatch.body}`, data: { mismatch } };
      return { status: 400, body: { jsonrpc: '2.0', id: request.id, error } };
    }
    // A requestState of the bridge's names a parked call; any other is a 2026-07-28 child's own, passed on to it.
    if (params.requestState !== undefined && this.deps.codec.isSealed(params.requestState)) {
      const state = this.deps.codec.open(params.requestState);
      const call = state && state.node === this.deps.nodeId ? this.parked.get(state.call) : undefined;
      if (!state || !call || call.clientKey !== owner) return { status: 200, body: invalidState(request.id) };
      const leg: Leg = { id: request.id, progressToken: progressTokenOf(message), sink: openLeg() };
      if (!call.resume(state, leg, params.inputResponses)) {
        leg.sink.write(undefined, JSON.stringify(invalidState(request.id)));
        leg.sink.end();
      }
      return undefined;
    }
    const hidden = request.method === 'tools/call' && typeof params.name === 'string' && this.deps.tools && !this.deps.tools.shows(params.name);
    if (hidden) return { status: 200, body: { jsonrpc: '2.0', id: request.id, error: { code: ModernError.InvalidParams, message: `Unknown tool: ${params.name}` } } };
    if (this.draining) return DRAINING;
    if (!this.running.begin(owner)) return TOO_MANY;
    const call = new ModernCall(this.context, request, owner);
    const share = this.deps.children.attach(owner, request.clientCapabilities, () => this.deps.log, call.events);
    if (!share) return this.running.end(owner), BUSY;
    const mode = await this.modeOf(share);
    if (typeof mode !== 'string' || share.child.inputFull || gone()) {
      this.running.end(owner);
      void share.upstream.close(this.deps.limits.killGraceMs);
      return typeof mode !== 'string' ? mode : INPUT_FULL;
    }
    this.calls.add(call);
    call.begin(share.upstream, { id: request.id, progressToken: progressTokenOf(message), sink: openLeg() }, message, mode);
    return undefined;
  }

  /** How a call reaches the child of `share`, once that child runs; the answer to give when it cannot start. */
  private async modeOf(share: { child: SharedChild; upstream: SharedUpstream }): Promise<CallMode | Answer> {
    try {
      await share.child.initializeResult();
    } catch (error) {
      void share.upstream.close(this.deps.limits.killGraceMs);
      return { status: 502, message: `Bad Gateway: ${(error as Error).message}` };
    }
    return share.child.era === 'modern' ? 'passed' : 'translated';
  }

  /**
   * `subscriptions/listen`: a stream on the leg `openLeg` makes, or 503 past the listener bounds. A 2026-07-28
   * child holds the stream itself (the request is passed on, as a call without a time limit). A stream with
   * resource subscriptions ends when its child goes (the subscriptions are gone with it): the client listens again.
   */
  async listen(request: ModernRequest, message: JSONRPCRequest, owner: string, openLeg: () => LegSink, gone: () => boolean): Promise<Answer | undefined> {
    const filter = listenFilterOf(message.params);
    if (this.draining) return DRAINING;
    if (!this.listeners.wouldHold(owner)) return LISTENERS_FULL;
    let stream: ListenStream | undefined;
    // A listen stream passed on counts toward the listen bounds, not the calls in flight.
    const call = new ModernCall({ ...this.context, callEnded: (ended) => this.listeners.release(ended) }, request, owner);
    const share = this.deps.children.attach(
      owner,
      request.clientCapabilities,
      () => this.deps.log,
      { message: (wire) => (stream ? stream.events.message(wire) : call.events.message(wire)), ended: (cause, status) => call.events.ended(cause, status) },
      () => stream?.close(),
    );
    if (!share) return BUSY;
    const mode = await this.modeOf(share);
    if (typeof mode !== 'string') return mode;
    // Nothing asynchronous from here on: the bound checked now is the bound held.
    if (gone() || !this.listeners.wouldHold(owner)) {
      void share.upstream.close(this.deps.limits.killGraceMs);
      return gone() ? undefined : LISTENERS_FULL;
    }
    if (mode === 'passed') {
      this.listeners.hold(call, (oldest) => oldest.close());
      call.begin(share.upstream, { id: request.id, progressToken: undefined, sink: openLeg() }, message, mode, false);
      return undefined;
    }
    const subscribes = (filter.resourceSubscriptions?.length ?? 0) > 0;
    if (!subscribes) void share.upstream.close(this.deps.limits.killGraceMs);
    stream = new ListenStream(owner, request.id, filter, openLeg(), this.listeners, this.deps.limits.maxStreamBytes, this.deps.limits.killGraceMs);
    this.listeners.hold(stream, (oldest) => oldest.close());
    stream.open(subscribes ? share.upstream : undefined);
    return undefined;
  }

  /** SIGTERM with --drain-timeout: no new call or stream; true once every call (parked ones too) is over, false at the timeout. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const deadline = performance.now() + timeoutMs;
    while (this.calls.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return this.calls.size === 0;
  }

  /** Answers every running call with an error, cancels the parked ones, ends the listen streams, then the children. */
  async close(): Promise<void> {
    this.draining = true;
    for (const call of [...this.calls]) call.shutdown();
    for (const stream of this.listeners.all()) stream.close();
    await this.deps.children.close();
  }
}
