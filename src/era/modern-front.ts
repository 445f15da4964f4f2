/**
 * One server's 2026-07-28 side: its requests served by 2025-era children (ModernChildren), its parked
 * calls and its listen streams, all bounded. The HTTP endpoint hands it classified requests and the
 * response streams to answer on; the 2025 sessions of the same server never meet these children.
 */
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import type { RequestId, WireMessage } from '../protocol/jsonrpc.js';
import type { EventSink } from '../session/stream.js';
import type { ToolFilter } from '../session/tool-filter.js';
import { ClientQuota } from './client-quota.js';
import { ListenStream, listenFilterOf } from './listen-streams.js';
import { ModernCall, type CallContext, type Leg, type LegSink } from './modern-call.js';
import type { ModernChildren } from './modern-children.js';
import { ModernError, type ModernRequest } from './modern-request.js';
import { discoverResult } from './modern-result.js';
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
export type Answer = { status: 200; body: Record<string, unknown> } | { status: 503; message: string };

/** The in-band error of a requestState the bridge did not issue, altered, replayed or let expire (the SDK's wording). */
const invalidState = (id: RequestId) => ({ jsonrpc: '2.0', id, error: { code: ModernError.InvalidParams, message: 'Invalid or expired requestState' } });

export class ModernFront {
  private readonly parked: ClientQuota<ModernCall>;
  private readonly listeners: ClientQuota<ListenStream>;
  private readonly context: CallContext;

  constructor(private readonly deps: ModernFrontDeps) {
    const { limits } = deps;
    this.parked = new ClientQuota(limits.maxParked, limits.maxParkedPerClient);
    this.listeners = new ClientQuota(limits.maxListeners, limits.maxListenersPerClient);
    this.context = {
      nodeId: deps.nodeId,
      codec: deps.codec,
      parked: this.parked,
      parkTtlMs: limits.parkTtlMs,
      requestTimeoutMs: limits.requestTimeoutMs,
      maxStreamBytes: limits.maxStreamBytes,
      tools: deps.tools,
      log: deps.log,
      killGraceMs: limits.killGraceMs,
    };
  }

  /** A list_changed of one of the children, for every listen stream. */
  listChanged(wire: WireMessage): void {
    for (const stream of this.listeners.all()) stream.listChanged(wire);
  }

  /** `server/discover`: the InitializeResult of a child initialized with the caller's capabilities. */
  async discover(request: ModernRequest): Promise<Answer> {
    const share = this.deps.children.attach(request.clientCapabilities, () => this.deps.log, { message: () => undefined, ended: () => undefined });
    if (!share) return { status: 503, message: 'Service Unavailable: every MCP server process is busy, try again later' };
    try {
      const initialize = await share.child.initializeResult();
      return { status: 200, body: { jsonrpc: '2.0', id: request.id, result: discoverResult(initialize) } };
    } catch (error) {
      return { status: 200, body: { jsonrpc: '2.0', id: request.id, error: { code: -32603, message: `Internal error: ${(error as Error).message}` } } };
    } finally {
      void share.upstream.close(this.deps.limits.killGraceMs);
    }
  }

  /**
   * A call (or a retry of a parked one): answered on the leg `openLeg` makes, or without a stream when it
   * cannot start. `clientKey` is whom the call counts toward.
   */
  call(request: ModernRequest, message: JSONRPCRequest, clientKey: string, openLeg: () => LegSink): Answer | undefined {
    const params = (message.params ?? {}) as { requestState?: unknown; inputResponses?: unknown; name?: unknown };
    if (params.requestState !== undefined) {
      const state = this.deps.codec.open(params.requestState);
      const call = state && state.node === this.deps.nodeId ? this.parked.get(state.call) : undefined;
      if (!state || !call || call.clientKey !== clientKey) return { status: 200, body: invalidState(request.id) };
      const leg: Leg = { id: request.id, sink: openLeg() };
      if (!call.resume(state, leg, params.inputResponses)) {
        leg.sink.write(undefined, JSON.stringify(invalidState(request.id)));
        leg.sink.end();
      }
      return undefined;
    }
    const hidden = request.method === 'tools/call' && typeof params.name === 'string' && this.deps.tools && !this.deps.tools.shows(params.name);
    if (hidden) return { status: 200, body: { jsonrpc: '2.0', id: request.id, error: { code: ModernError.InvalidParams, message: `Unknown tool: ${params.name}` } } };
    const call = new ModernCall(this.context, request, clientKey);
    const share = this.deps.children.attach(request.clientCapabilities, () => this.deps.log, call.events);
    if (!share) return { status: 503, message: 'Service Unavailable: every MCP server process is busy, try again later' };
    call.begin(share.upstream, { id: request.id, sink: openLeg() }, message);
    return undefined;
  }

  /** `subscriptions/listen`: a stream on the leg `openLeg` makes, or 503 past the listener bounds. */
  listen(request: ModernRequest, message: JSONRPCRequest, clientKey: string, openLeg: () => EventSink): Answer | undefined {
    const filter = listenFilterOf(message.params);
    if (!this.listeners.wouldHold(clientKey)) return { status: 503, message: 'Service Unavailable: too many listen streams, try again later' };
    let stream: ListenStream | undefined;
    const share = filter.resourceSubscriptions?.length
      ? this.deps.children.attach(request.clientCapabilities, () => this.deps.log, { message: (wire) => stream?.events.message(wire), ended: () => stream?.close() })
      : undefined;
    stream = new ListenStream(clientKey, request.id, filter, openLeg(), this.listeners, this.deps.limits.maxStreamBytes, this.deps.limits.killGraceMs);
    this.listeners.hold(stream, (oldest) => oldest.close());
    stream.open(share?.upstream);
    return undefined;
  }

  /** Ends every parked call and listen stream, then the children. */
  async close(): Promise<void> {
    for (const stream of this.listeners.all()) stream.close();
    await this.deps.children.close();
  }
}
