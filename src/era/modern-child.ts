/**
 * A 2025-era session in front of a child that speaks only 2026-07-28 (servers on the v2 SDKs, FastMCP 4,
 * mcp-nixos 3.1): the session's messages translated on their way to the child, the child's on their way
 * back, so that the session sees the 2025 server it expects.
 *
 *   initialize            → server/discover; its DiscoverResult becomes the InitializeResult
 *   every request         → the same, with the session's envelope in _meta (version, capabilities, log level)
 *   input_required result → its inputRequests as ordinary requests to the client; their answers, once all
 *                           are in, go back as the retry (inputResponses, requestState echoed)
 *   resources/subscribe,  → a subscriptions/listen request held open on the child, reopened when they change;
 *   list_changed            what it carries reaches the session as 2025 notifications
 *   ping, logging/setLevel→ answered here (the era has neither)
 */
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Upstream, UpstreamEvents } from '../child/upstream.js';
import type { Logger } from '../log.js';
import { errorResponse, ownMessage, type JSONRPCMessage, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import { MAX_RESOURCE_SUBSCRIPTIONS } from './listen-streams.js';
import { META, envelope as modernEnvelope } from '../protocol/modern.js';

type Params = Record<string, unknown>;

/** Rounds of input_required one call may take before the bridge gives up on it (mcp-remote's cap too). */
const MAX_ROUNDS = 10;
/** The methods the era has no more, and the bridge answers itself. */
const ANSWERED_HERE = new Set(['ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);

/** A session request in the child's hands: its id there, and the rounds it took. */
interface Call {
  request: JSONRPCRequest;
  childId: string;
  rounds: number;
  /** The questions of the current round, by key, and the answers in so far. */
  asked: Map<string, RequestId>;
  answers: Record<string, unknown>;
  requestState: unknown;
}

/** A 2026 result as a 2025 client reads it: without the fields its era does not have. */
function legacyResult(result: Params): Params {
  const { resultType: _type, ttlMs: _ttl, cacheScope: _scope, ...rest } = result;
  return rest;
}

/** The InitializeResult a 2025 client gets for the child's DiscoverResult, in the version it asked for if the bridge speaks it. */
export function initializeResultOf(discover: Params, asked: unknown): Params {
  const meta = (discover._meta ?? {}) as Params;
  const result: Params = {
    protocolVersion: typeof asked === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION,
    capabilities: discover.capabilities ?? {},
    serverInfo: meta[META.serverInfo] ?? { name: 'unknown', version: '0' },
  };
  if (typeof discover.instructions === 'string') result.instructions = discover.instructions;
  return result;
}

export function modernChildUpstream(connect: (events: UpstreamEvents) => Upstream, log: () => Logger, events: UpstreamEvents): Upstream {
  let clientCapabilities: Params = {};
  let clientInfo: Params | undefined;
  let logLevel: string | undefined;
  let serverCapabilities: Params = {};
  let initializeId: RequestId | undefined;
  let askedVersion: unknown;
  let nextId = 1;
  const calls = new Map<string, Call>();
  const bySessionId = new Map<RequestId, Call>();
  /** Questions put to the client, by the id the bridge gave them. */
  const questions = new Map<string, { call: Call; key: string }>();
  const subscriptions = new Set<string>();
  let listenId: string | undefined;

  const toSession = (message: JSONRPCMessage) => events.message(ownMessage(message));
  const envelope = (meta: unknown): Params => modernEnvelope({ capabilities: clientCapabilities, info: clientInfo, logLevel }, meta as Params | undefined);

  const inner = connect({ message: (wire) => fromChild(wire), ended: (cause, status) => events.ended(cause, status) });
  const toChild = (message: JSONRPCMessage) => inner.send(ownMessage(message));

  /** Sends the call to the child (again, with the answers of a round), under an id of the bridge's. */
  function sendCall(call: Call, retry?: { inputResponses?: unknown; requestState: unknown }): boolean {
    calls.delete(call.childId);
    call.childId = `mcp-bridge-${nextId++}`;
    calls.set(call.childId, call);
    const params: Params = { ...(call.request.params as Params | undefined), ...retry };
    return toChild({ jsonrpc: '2.0', id: call.childId, method: call.request.method, params: { ...params, _meta: envelope(params._meta) } });
  }

  /** Rule: the listen stream asks for every change the child can announce and the session's subscribed URIs; it is reopened when they change. Why: a 2025 client learns of changes only on its GET stream, which this feeds. */
  function listen(): void {
    if (listenId !== undefined) toChild({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: listenId, reason: 'subscriptions changed' } });
    const can = (name: string) => Boolean((serverCapabilities[name] as { listChanged?: unknown } | undefined)?.listChanged);
    const notifications: Params = { toolsListChanged: can('tools'), promptsListChanged: can('prompts'), resourcesListChanged: can('resources') };
    if (subscriptions.size > 0) notifications.resourceSubscriptions = [...subscriptions];
    if (!Object.values(notifications).some(Boolean)) return void (listenId = undefined);
    listenId = `mcp-bridge-listen-${nextId++}`;
    toChild({ jsonrpc: '2.0', id: listenId, method: 'subscriptions/listen', params: { notifications, _meta: envelope(undefined) } });
  }

  function answerHere(request: JSONRPCRequest): void {
    const params = (request.params ?? {}) as Params;
    if (request.method === 'logging/setLevel' && typeof params.level === 'string') logLevel = params.level;
    if (typeof params.uri === 'string') {
      if (request.method === 'resources/subscribe' && !subscriptions.has(params.uri) && subscriptions.size >= MAX_RESOURCE_SUBSCRIPTIONS) {
        return toSession(errorResponse(request.id, -32603, `Internal error: a session may subscribe to ${MAX_RESOURCE_SUBSCRIPTIONS} resources at most`).message);
      }
      if (request.method === 'resources/subscribe') subscriptions.add(params.uri);
      if (request.method === 'resources/unsubscribe') subscriptions.delete(params.uri);
      listen();
    }
    toSession({ jsonrpc: '2.0', id: request.id, result: {} });
  }

  function fromSession(wire: WireMessage): boolean {
    const message = wire.message as JSONRPCMessage & { id?: RequestId; method?: string; params?: Params };
    if (wire.kind === 'request') {
      const request = message as JSONRPCRequest;
      if (request.method === 'initialize') {
        const params = (request.params ?? {}) as Params;
        clientCapabilities = (params.capabilities ?? {}) as Params;
        clientInfo = params.clientInfo as Params | undefined;
        askedVersion = params.protocolVersion;
        initializeId = `mcp-bridge-discover-${nextId++}`;
        bySessionId.set(initializeId, { request, childId: initializeId, rounds: 0, asked: new Map(), answers: {}, requestState: undefined });
        return toChild({ jsonrpc: '2.0', id: initializeId, method: 'server/discover', params: { _meta: envelope(undefined) } });
      }
      if (ANSWERED_HERE.has(request.method)) return answerHere(request), true;
      const call: Call = { request, childId: '', rounds: 0, asked: new Map(), answers: {}, requestState: undefined };
      bySessionId.set(request.id, call);
      return sendCall(call);
    }
    if (wire.kind === 'response') return fromClientAnswer(message);
    if (message.method === 'notifications/initialized') return listen(), true;
    if (message.method === 'notifications/cancelled') {
      const call = bySessionId.get(message.params?.requestId as RequestId);
      if (!call) return true;
      forget(call);
      return toChild({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { ...message.params, requestId: call.childId } });
    }
    // roots/list_changed and the like have no 2026 counterpart: roots are asked for per request.
    return true;
  }

  /** An answer of the client's to a question of a call's: once all of the round's are in, the call is retried with them. */
  function fromClientAnswer(message: JSONRPCMessage & { id?: RequestId }): boolean {
    const question = questions.get(String(message.id));
    if (!question) return true;
    questions.delete(String(message.id));
    const { call, key } = question;
    const result = (message as { result?: unknown }).result;
    if (result === undefined) {
      // The client refused: the call fails with its error, as it would have had the server asked directly.
      forget(call);
      toSession({ ...(message as object), id: call.request.id } as JSONRPCMessage);
      return true;
    }
    call.answers[key] = result;
    call.asked.delete(key);
    if (call.asked.size > 0) return true;
    const inputResponses = call.answers;
    call.answers = {};
    return sendCall(call, { inputResponses, requestState: call.requestState });
  }

  function fromChild(wire: WireMessage): void {
    const message = wire.message as JSONRPCMessage & { id?: RequestId; method?: string; params?: Params; result?: Params };
    if (wire.kind === 'request') {
      // "The server MUST NOT write JSON-RPC requests to stdout" in this era.
      toChild(errorResponse((message as JSONRPCRequest).id, -32601, 'Method not found').message);
      return;
    }
    if (wire.kind === 'notification') {
      const meta = message.params?._meta as Params | undefined;
      if (meta && META.subscriptionId in meta) {
        if (message.method === 'notifications/subscriptions/acknowledged') return;
        const { [META.subscriptionId]: _id, ...rest } = meta;
        const params = { ...message.params, ...(Object.keys(rest).length > 0 ? { _meta: rest } : {}) };
        if (Object.keys(rest).length === 0) delete params._meta;
        return toSession({ jsonrpc: '2.0', method: message.method as string, params });
      }
      return events.message(wire);
    }
    const id = String(message.id);
    if (id === initializeId) return answerInitialize(message);
    if (id === listenId) return void (listenId = undefined);
    const call = calls.get(id);
    if (!call) return;
    const result = message.result;
    if (result?.resultType === 'input_required') return askClient(call, result);
    forget(call);
    if (result) toSession({ jsonrpc: '2.0', id: call.request.id, result: legacyResult(result) });
    else toSession({ ...message, id: call.request.id } as JSONRPCMessage);
  }

  function answerInitialize(message: JSONRPCMessage & { result?: Params }): void {
    const pending = bySessionId.get(initializeId as RequestId);
    bySessionId.delete(initializeId as RequestId);
    initializeId = undefined;
    if (!pending) return;
    if (!message.result) return toSession({ ...message, id: pending.request.id } as JSONRPCMessage);
    const result = initializeResultOf(message.result, askedVersion);
    serverCapabilities = result.capabilities as Params;
    toSession({ jsonrpc: '2.0', id: pending.request.id, result });
  }

  /** Rule: an input_required puts each of its questions to the client as a request of its own, at most MAX_ROUNDS rounds a call. Why: a 2025 client answers only server requests, and a server that never stops asking must not hold a call forever. */
  function askClient(call: Call, result: Params): void {
    call.rounds++;
    call.requestState = result.requestState;
    const inputRequests = (result.inputRequests ?? {}) as Record<string, { method?: unknown; params?: unknown }>;
    const entries = Object.entries(inputRequests).filter(([, question]) => typeof question?.method === 'string');
    if (call.rounds > MAX_ROUNDS) {
      forget(call);
      log().warn({ method: call.request.method, rounds: call.rounds }, 'a 2026-07-28 server kept asking for input; the call failed');
      return toSession(errorResponse(call.request.id, -32603, `Internal error: the server asked for input more than ${MAX_ROUNDS} times`).message);
    }
    if (entries.length === 0) return void sendCall(call, { requestState: call.requestState });
    call.asked.clear();
    for (const [key, question] of entries) {
      const id = `mcp-bridge-input-${nextId++}`;
      call.asked.set(key, id);
      questions.set(id, { call, key });
      toSession({ jsonrpc: '2.0', id, method: question.method as string, params: (question.params ?? {}) as Params });
    }
  }

  function forget(call: Call): void {
    calls.delete(call.childId);
    bySessionId.delete(call.request.id);
    for (const id of call.asked.values()) questions.delete(String(id));
  }

  return {
    get pid() {
      return inner.pid;
    },
    accepting: () => inner.accepting(),
    send: fromSession,
    pause: () => inner.pause(),
    resume: () => inner.resume(),
    close: (graceMs) => inner.close(graceMs),
  };
}
