/**
 * One 2026-07-28 request served by a 2025-era child, from its first POST to its result, across the
 * retries of the multi-round-trip flow (MRTR). The child sees an ordinary call, and asks its client
 * (sampling, elicitation, roots) with ordinary requests; the client sees `input_required` results:
 *
 *   POST call ─▶ child runs it ─▶ child asks ─▶ the call parks: `input_required` {inputRequests, requestState}
 *   POST retry {inputResponses, requestState} ─▶ answers go to the child as responses ─▶ it streams on
 *
 * Each POST is a leg: an SSE response carrying the call's progress and logs, and ending with its result or
 * with the next `input_required`. A client that closes a leg before its end cancels the call.
 */
import { randomUUID } from 'node:crypto';
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { SharedUpstream } from '../child/shared-child.js';
import type { UpstreamEvents } from '../child/upstream.js';
import type { Logger } from '../log.js';
import { errorResponse, ownMessage, type JSONRPCMessage, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import type { EventSink } from '../session/stream.js';
import type { ToolFilter } from '../session/tool-filter.js';
import { META } from '../protocol/modern.js';
import type { ClientQuota } from './client-quota.js';
import { ModernError, type ModernRequest } from './modern-request.js';
import { modernResult } from './modern-result.js';
import type { RequestState, RequestStateCodec } from './request-state.js';
import { INPUT_METHODS, answersOf, childRequest, httpStatusOf, logPasses, missingCapabilities } from './translation.js';

export interface CallContext {
  nodeId: string;
  codec: RequestStateCodec;
  parked: ClientQuota<ModernCall>;
  /** How long a parked call waits for its retry. */
  parkTtlMs: number;
  /** How long one leg may wait for the child's answer. */
  requestTimeoutMs: number;
  /** Bytes of one leg not yet taken by its client before the leg is cut (and the call cancelled). */
  maxStreamBytes: number;
  tools: ToolFilter | undefined;
  /** Told of every tools/list result the call passes on. */
  toolsListed(tools: unknown): void;
  /** Told once when a call is over (answered, cancelled or expired). */
  callEnded(call: ModernCall): void;
  log: Logger;
  killGraceMs: number;
}

/** A leg's response: an SSE stream whose head may wait until its first event, so that it can still be refused. */
export interface LegSink extends EventSink {
  /** Sends the head now. */
  release(): void;
  /** Answers with this status and JSON body instead, while the head has not left; false once it has. */
  refuse(status: number, body: string): boolean;
}

/** One POST of the call: the client's id for it, the progress token it asks for, and its response stream. */
export interface Leg {
  id: RequestId;
  progressToken: string | number | undefined;
  sink: LegSink;
}

/** The call's id on its share of the child: a share carries one call. */
const SHARE_ID = 1;
/**
 * Questions the child asks within this long of each other go to the client in one `input_required`. Why this
 * short: a server asks what it needs together in one go (one write, usually one read here), and each ms of it
 * is a ms of every round trip.
 */
const GATHER_MS = 2;

type State = 'running' | 'parked' | 'done';

/**
 * How the call reaches its child: `translated` for a 2025-era child (the envelope left out, its questions
 * parked as input_required); `passed` for a 2026-07-28 child, which gets the request as it came and whose
 * answer (input_required included: its requestState is the child's own) goes back as it is.
 */
export type CallMode = 'translated' | 'passed';

export class ModernCall {
  readonly id = randomUUID();
  private upstream: SharedUpstream | undefined;
  private leg: Leg | undefined;
  private state: State = 'running';
  private round = 0;
  /** The child's questions not yet put to the client, by key (the child's request id). */
  private asking = new Map<string, JSONRPCRequest>();
  /** Questions put to the client in the current round, awaiting its answers. */
  private waiting = new Map<string, JSONRPCRequest>();
  /**
   * Answers the client gave that no question has used yet (owner: this call; bound: what one request body
   * held, and they are dropped with each new leg): a later question under one of their keys takes it at once.
   */
  private given: Record<string, unknown> = {};
  /** A response that came while the call was parked (the child failed): the retry gets it. */
  private outcome: JSONRPCMessage | undefined;
  private mode: CallMode = 'translated';
  private gatherTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private legTimer: NodeJS.Timeout | undefined;

  readonly events: UpstreamEvents = {
    message: (wire) => this.fromChild(wire),
    ended: () => this.finish(errorResponse(SHARE_ID, -32603, 'Internal error: the MCP server ended').message),
  };

  constructor(
    private readonly context: CallContext,
    private readonly request: ModernRequest,
    readonly clientKey: string,
  ) {}

  /** Starts the call on its share of a child, answering on `leg`; `timeout`: whether the leg may wait at most requestTimeoutMs (not a listen stream). */
  begin(upstream: SharedUpstream, leg: Leg, message: JSONRPCRequest, mode: CallMode, timeout = true): void {
    this.upstream = upstream;
    this.mode = mode;
    this.attach(leg, timeout);
    if (mode === 'translated') this.given = answersOf((message.params as { inputResponses?: unknown } | undefined)?.inputResponses);
    const request = mode === 'translated' ? childRequest(message, SHARE_ID) : { ...message, id: SHARE_ID };
    if (!upstream.send(ownMessage(request))) this.finish(errorResponse(SHARE_ID, -32603, 'Internal error: the MCP server is not taking input').message);
  }

  /**
   * A retry: the client's answers go to the child, and the call goes on on `leg`. False when `state` does
   * not name this call's current round (a replay, or a retry of a round already answered).
   */
  resume(state: RequestState, leg: Leg, inputResponses: unknown): boolean {
    if (this.state !== 'parked' || state.round !== this.round) return false;
    clearTimeout(this.expiryTimer);
    this.context.parked.release(this);
    this.state = 'running';
    this.upstream?.awaitingClient(false);
    this.attach(leg);
    if (this.outcome) return this.finish(this.outcome), true;
    this.given = answersOf(inputResponses);
    for (const [key, question] of this.waiting) if (this.answerFromGiven(key, question)) this.waiting.delete(key);
    // Questions left unanswered are asked again.
    if (this.waiting.size > 0) {
      for (const [key, question] of this.waiting) this.asking.set(key, question);
      this.waiting.clear();
      this.park();
    }
    return true;
  }

  private attach(leg: Leg, timeout = true): void {
    this.leg = leg;
    leg.sink.listen({
      drained: () => undefined,
      closed: (finished) => {
        if (!finished && this.leg === leg) this.cancel('the client closed its stream');
      },
    });
    clearTimeout(this.legTimer);
    if (!timeout) return;
    this.legTimer = setTimeout(() => {
      this.answer(errorResponse(leg.id, -32001, 'Request timed out').message);
      this.cancel('request timed out');
    }, this.context.requestTimeoutMs);
    this.legTimer.unref();
  }

  private fromChild(wire: WireMessage): void {
    if (this.state === 'done') return;
    const message = wire.message as JSONRPCMessage & { id?: RequestId; method?: string; params?: Record<string, unknown> };
    if (wire.kind === 'response') return this.finish(message);
    if (this.mode === 'passed') {
      // This era's servers send no requests; everything else of the call's is the client's.
      if (wire.kind === 'request') this.upstream?.send(errorResponse((message as JSONRPCRequest).id, -32601, 'Method not found'));
      else this.toLeg(this.withSubscriptionId(wire));
      return;
    }
    if (wire.kind === 'request') return this.fromChildRequest(message as JSONRPCRequest);
    if (message.method === 'notifications/progress') return this.progressToLeg(message.params ?? {});
    if (message.method === 'notifications/message' && logPasses(this.request.logLevel, message.params?.level)) return this.toLeg(wire);
    // Anything else (list_changed, resources/updated) is not about this request: the listen stream has it.
  }

  /**
   * Rule: the child's questions during a running call are gathered for the client; one the caller's declared
   * capabilities do not cover ends the call with -32021 (HTTP 400 while its stream has not begun); any other
   * request, or one while parked, is refused. Why: a client can answer only what an `input_required` carried,
   * and a 2026-07-28 server must not rely on a capability the client did not declare (SEP-2575).
   */
  private fromChildRequest(request: JSONRPCRequest): void {
    const leg = this.leg;
    if (!INPUT_METHODS.has(request.method) || this.state !== 'running' || !leg) {
      this.upstream?.send(errorResponse(request.id, -32601, `Method not found: ${request.method} cannot be put to this client now`));
      return;
    }
    const missing = missingCapabilities(request, this.request.clientCapabilities);
    if (missing) {
      this.upstream?.send(errorResponse(request.id, -32601, `Method not found: the client did not declare the capability ${request.method} needs`));
      const refusal = errorResponse(leg.id, ModernError.MissingCapability, `Missing required client capability for ${request.method}`, { requiredCapabilities: missing });
      this.answer(refusal.message, 400);
      return this.cancel('the client lacks a capability the server needs');
    }
    if (this.answerFromGiven(String(request.id), request)) return;
    this.asking.set(String(request.id), request);
    clearTimeout(this.gatherTimer);
    this.gatherTimer = setTimeout(() => this.park(), GATHER_MS);
  }

  /**
   * Rule: a question whose key the client already answered (in this leg's inputResponses) gets that answer at
   * once, even on a first request that carries no requestState. Why: a client may answer ahead, and a server
   * "SHOULD ignore" what it does not need; asking again what was answered would only cost a round.
   */
  private answerFromGiven(key: string, question: JSONRPCRequest): boolean {
    const answer = this.given[key];
    if (answer === undefined) return false;
    delete this.given[key];
    this.upstream?.send(ownMessage({ jsonrpc: '2.0', id: question.id, result: answer as Record<string, unknown> }));
    return true;
  }

  /** Puts the gathered questions to the client as `input_required`, and waits for its retry. */
  private park(): void {
    const leg = this.leg;
    if (this.state !== 'running' || !leg || this.asking.size === 0) return;
    if (!this.context.parked.hold(this, (oldest) => oldest.evicted())) {
      this.context.log.warn({ parked: this.context.parked.size }, 'too many 2026-07-28 calls wait for input; refused the server request');
      for (const question of this.asking.values()) this.upstream?.send(errorResponse(question.id, -32603, 'Internal error: too many calls wait for their client; try again later'));
      this.asking.clear();
      return;
    }
    this.round++;
    this.waiting = this.asking;
    this.asking = new Map();
    this.state = 'parked';
    this.upstream?.awaitingClient(true);
    const requestState = this.context.codec.seal({ node: this.context.nodeId, call: this.id, round: this.round, expiresAt: Date.now() + this.context.parkTtlMs });
    const inputRequests: Record<string, { method: string; params: unknown }> = {};
    for (const [key, question] of this.waiting) inputRequests[key] = { method: question.method, params: question.params ?? {} };
    this.answer({ jsonrpc: '2.0', id: leg.id, result: { resultType: 'input_required', inputRequests, requestState } });
    this.expiryTimer = setTimeout(() => this.cancel('its client did not answer in time'), this.context.parkTtlMs);
    this.expiryTimer.unref();
  }

  /** The child's response to the call: the leg's result, or kept for the retry while parked. */
  private finish(message: JSONRPCMessage): void {
    if (this.state === 'done') return;
    if (this.state === 'parked') {
      this.outcome = message;
      return;
    }
    const leg = this.leg;
    if (!leg) return;
    const result = (message as { result?: Record<string, unknown> }).result;
    if (this.mode === 'passed') {
      if (this.request.method === 'tools/list') this.context.toolsListed(result?.tools);
      let passed = ownMessage({ ...message, id: leg.id } as JSONRPCMessage);
      if (this.request.method === 'tools/list' && this.context.tools) passed = this.context.tools.listed(passed);
      this.answer(passed.message, httpStatusOf(message));
    } else if (result) {
      if (this.request.method === 'tools/list') this.context.toolsListed(result.tools);
      let shaped = ownMessage({ jsonrpc: '2.0', id: leg.id, result: modernResult(this.request.method, result) });
      if (this.request.method === 'tools/list' && this.context.tools) shaped = this.context.tools.listed(shaped);
      this.answer(shaped.message);
    } else {
      this.answer({ ...message, id: leg.id } as JSONRPCMessage, httpStatusOf(message));
    }
    this.end();
  }

  /** Ends the current leg with its last message: with another HTTP status than 200 if asked and its head has not left. */
  private answer(message: JSONRPCMessage, status = 200): void {
    const leg = this.leg;
    if (!leg) return;
    this.leg = undefined;
    clearTimeout(this.legTimer);
    const text = JSON.stringify(message);
    if (status !== 200 && leg.sink.refuse(status, text)) return;
    leg.sink.write(undefined, text);
    leg.sink.end();
  }

  /** Rule: a leg whose client leaves more than maxStreamBytes unread is cut, and the call cancelled. Why: the child's output must not pile up in memory for a client that does not read. */
  private toLeg(wire: WireMessage): void {
    const leg = this.leg;
    if (!leg) return;
    if (leg.sink.backlog > this.context.maxStreamBytes) {
      leg.sink.cut();
      return this.cancel('its client is not reading');
    }
    leg.sink.write(undefined, wire.text);
    leg.sink.release();
  }

  /**
   * Rule: the call's progress reaches each leg under the token that leg's request asked with, and none reaches a
   * leg that asked for none. Why: a retry is a request of its own to the client, whose token may differ.
   */
  private progressToLeg(params: Record<string, unknown>): void {
    const token = this.leg?.progressToken;
    if (token === undefined) return;
    this.toLeg(ownMessage({ jsonrpc: '2.0', method: 'notifications/progress', params: { ...params, progressToken: token } } as JSONRPCMessage));
  }

  /** A listen stream's notification names its subscription by the request's id: the client's, not the share's. */
  private withSubscriptionId(wire: WireMessage): WireMessage {
    const params = (wire.message as { params?: Record<string, unknown> }).params;
    const meta = params?._meta as Record<string, unknown> | undefined;
    if (!meta || !(META.subscriptionId in meta) || !this.leg) return wire;
    return ownMessage({ ...wire.message, params: { ...params, _meta: { ...meta, [META.subscriptionId]: this.leg.id } } } as JSONRPCMessage);
  }

  /** Its client parked a newer call past its share of parked calls: this one ends. */
  evicted(): void {
    this.cancel('its client parked too many calls');
  }

  /** The bridge is shutting down: a running call's leg gets an error, and the call is cancelled. */
  shutdown(): void {
    if (this.state === 'running') this.answer(errorResponse(this.leg?.id ?? SHARE_ID, -32603, 'Internal error: the bridge is shutting down').message);
    this.cancel('the bridge is shutting down');
  }

  /** Ends the call and its stream (a listen stream pushed out by its client's newer one). */
  close(): void {
    const leg = this.leg;
    this.cancel('its client opened too many streams');
    leg?.sink.end();
  }

  /** The call is over without a result: its questions are answered with an error and the child told to stop. */
  private cancel(reason: string): void {
    if (this.state === 'done') return;
    this.context.log.debug({ call: this.id, reason }, '2026-07-28 call cancelled');
    for (const question of [...this.asking.values(), ...this.waiting.values()]) {
      this.upstream?.send(errorResponse(question.id, -32603, `Request cancelled: ${reason}`));
    }
    this.asking.clear();
    this.waiting.clear();
    this.end();
  }

  private end(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.context.callEnded(this);
    clearTimeout(this.gatherTimer);
    clearTimeout(this.expiryTimer);
    clearTimeout(this.legTimer);
    this.context.parked.release(this);
    // Closing the share tells the child to drop the call if it is still in flight (notifications/cancelled).
    void this.upstream?.close(this.context.killGraceMs);
  }
}
