/**
 * One child shared by several senders: every session of a --shared server (for servers that keep no
 * per-client state, such as mcp-nixos), or one client's 2026-07-28 calls (era/modern-children.ts). The
 * bridge does the child's handshake itself (handshake.ts) and answers each session's initialize from its
 * result; ids and progress tokens are rewritten (request-rewrites.ts) so senders never collide or see each
 * other's messages.
 */
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import type { ServerMetrics } from '../metrics.js';
import { idOf, ownMessage, type JSONRPCMessage, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import { META } from '../protocol/modern.js';
import { restartDelayMs } from './backoff.js';
import type { ChildEra } from './child-era.js';
import type { ChildProcess } from './child-process.js';
import { HANDSHAKE_ID, PendingHandshake, afterHandshake, handshakeRequest, type BridgeAsClient } from './handshake.js';
import { RequestRewrites } from './request-rewrites.js';
import { StdioChannel } from './stdio-channel.js';
import { channelEvents, exitSoon, type Upstream, type UpstreamEvents } from './upstream.js';

/** One session's share of the child. */
interface Share {
  log: () => Logger;
  events: UpstreamEvents;
  /** The child's id for each of this session's requests in flight, by the session's own id. */
  upstreamIds: Map<RequestId, number>;
  subscriptions: Set<string>;
  /** Its requests wait for its client's answers (a parked 2026-07-28 call): the child is not asking it anything new. */
  awaiting: boolean;
  /** Told when the child goes (its state, subscriptions included, is gone with it). */
  gone: (() => void) | undefined;
}

/** A share as its holder sees it. */
export interface SharedUpstream extends Upstream {
  /** Marks the share's requests as waiting for its client (or not): such a share is not busy for attribution. */
  awaitingClient(awaiting: boolean): void;
}

export interface SharedChildOptions {
  spawn: () => Promise<ChildProcess>;
  log: Logger;
  metrics: ServerMetrics;
  maxLineBytes: number;
  /** Bytes that may wait for the child's stdin before sessions that add to them are refused. */
  maxInputBytes: number;
  stallTimeoutMs: number;
  killGraceMs: number;
  version: string;
  /** What the bridge declares to the child (default: roots, sampling and elicitation: --shared's sessions may use any). */
  capabilities?: Record<string, unknown>;
  clientName?: string;
  /** Set once the child is initialized, when it can log: its level for the whole child (the bridge filters per caller). */
  logLevel?: string;
  /** Told of every list_changed besides the shares (the listen streams of --modern, which span several children). */
  listChanged?: (wire: WireMessage) => void;
  /** The era of a new child (probing it if need be); without it, every child is taken as 2025-era. */
  era?: (child: ChildProcess) => Promise<ChildEra | 'exited'>;
  /** How long a new child may take to answer the bridge's initialize (or discover) before it is ended. */
  initTimeoutMs?: number;
}

/** Without initTimeoutMs: a server that has not answered its handshake in this long will not. */
const INIT_TIMEOUT_MS = 60_000;

/** What the bridge declares to a --shared child; server requests reach a client only when they can be attributed. */
const BRIDGE_CAPABILITIES = { roots: { listChanged: true }, sampling: {}, elicitation: {} };
const LIST_CHANGED = /^notifications\/(tools|prompts|resources)\/list_changed$/;

const errorResponse = (id: RequestId, message: string): WireMessage => ownMessage({ jsonrpc: '2.0', id, error: { code: -32603, message } });

export class SharedChild {
  private child: ChildProcess | undefined;
  private channel: StdioChannel | undefined;
  /** The running child's handshake: its result is the child's InitializeResult. */
  private handshake: PendingHandshake | undefined;
  private readonly rewrites = new RequestRewrites<Share>();
  /** Requests the child sent to a client, by the child's id: whose client answers. */
  private readonly serverRequests = new Map<RequestId, Share>();
  private readonly shares = new Set<Share>();
  private failures = 0;
  private childEra: ChildEra = 'legacy';
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: SharedChildOptions) {}

  /** Shares with requests in flight that are not waiting for their client (a server request can be attributed only while this is 1). */
  get busy(): number {
    return this.busyShares().length;
  }

  /** Whether the child's stdin holds its bound of bytes not yet taken (a new sender should wait). */
  get inputFull(): boolean {
    return (this.channel?.queuedBy() ?? 0) >= this.options.maxInputBytes;
  }

  /** The child's InitializeResult (its DiscoverResult, for a 2026-07-28-only child), starting it if needed. */
  initializeResult(): Promise<Record<string, unknown>> {
    return this.ready();
  }

  /** The era of the running child (known once initializeResult has resolved). */
  get era(): ChildEra {
    return this.childEra;
  }

  /** Gives a session its share; the child starts with the first one. */
  attach(log: () => Logger, events: UpstreamEvents, gone?: () => void): SharedUpstream {
    const share: Share = { log, events, upstreamIds: new Map(), subscriptions: new Set(), awaiting: false, gone };
    this.shares.add(share);
    const shared = this;
    return {
      get pid() {
        return shared.child?.pid;
      },
      accepting: () => this.accepting(share),
      send: (message) => this.fromSession(share, message),
      // One session's slow client must not stop the others': its own bounds (eviction, --stall-timeout) hold it.
      pause: () => undefined,
      resume: () => undefined,
      close: async () => {
        this.detach(share);
        return undefined;
      },
      awaitingClient: (awaiting) => {
        share.awaiting = awaiting;
      },
    };
  }

  private busyShares(): Share[] {
    return [...this.shares].filter((share) => share.upstreamIds.size > 0 && !share.awaiting);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.handshake?.fail(new Error('the bridge is shutting down'));
    this.channel?.stop();
    await this.child?.terminate(this.options.killGraceMs);
  }

  /** The child's InitializeResult, starting (or restarting) the child when there is none. */
  private ready(): Promise<Record<string, unknown>> {
    if (this.handshake) return this.handshake.result;
    // The restart delay holds for everyone: a crashing command must not be spawned once per request.
    if (this.restartTimer !== undefined) return Promise.reject(new Error('the MCP server is restarting after a failure; try again shortly'));
    this.handshake = new PendingHandshake();
    void this.start();
    return this.handshake.result;
  }

  private async start(): Promise<void> {
    let child: ChildProcess;
    try {
      child = await this.options.spawn();
    } catch (error) {
      this.childGone(`the MCP server could not be started: ${(error as Error).message}`);
      return;
    }
    const era = (await this.options.era?.(child)) ?? 'legacy';
    if (era === 'exited') return this.childGone('the MCP server exited when asked which protocol era it speaks');
    if (this.closed) return void child.terminate(this.options.killGraceMs);
    this.childEra = era;
    this.child = child;
    const { log, metrics } = this.options;
    const sharedLog = log.child({ shared: true });
    const restart = (cause: string) => {
      sharedLog.warn({ cause }, 'restarting the shared child');
      void child.terminate(this.options.killGraceMs);
    };
    this.channel = new StdioChannel(
      child.stdin,
      child.stdout,
      this.options,
      channelEvents({ log: () => sharedLog, metrics, maxLineBytes: this.options.maxLineBytes }, (message) => this.fromChild(message), (cause) => {
        // A child that closed its stdout is restarted unless it is exiting by itself.
        if (cause === 'output-closed') void exitSoon(child).then((status) => (status ? undefined : restart(cause)));
        else restart(cause);
      }),
    );
    child.onStderrLine = (line) => log.info({ childPid: child.pid, stderr: line }, 'shared child stderr');
    void child.exited.then((status) => {
      metrics.childExited(status);
      if (this.child !== child) return;
      if (this.closed) return void log.info({ childPid: child.pid }, 'shared child stopped');
      this.childGone(`the MCP server process exited (${status.signal ? `signal ${status.signal}` : `exit code ${status.code}`})`);
    });
    this.channel.send(handshakeRequest(era, this.asClient()));
    log.info({ childPid: child.pid }, 'shared child started');
    // Ended, it is restarted after the usual delay.
    this.handshake?.sent(this.options.initTimeoutMs ?? INIT_TIMEOUT_MS, () => {
      log.warn({ childPid: child.pid }, 'shared child did not answer its handshake in time; ending it');
      void child.terminate(this.options.killGraceMs);
    });
  }

  private asClient(): BridgeAsClient {
    const { capabilities = BRIDGE_CAPABILITIES, clientName = 'mcp-bridge (shared)', version, logLevel } = this.options;
    return { capabilities, clientInfo: { name: clientName, version }, logLevel };
  }

  /**
   * Rule: when the shared child dies, every request in flight fails, and a new child starts after a delay
   * that doubles with each failure in a row (1 s up to 60 s); sessions carry on.
   * Why: one crash must not end every user's session, and a broken command must not become a spawn loop.
   */
  private childGone(reason: string): void {
    this.options.log.warn({ reason }, 'shared child gone');
    this.channel?.stop();
    this.child = undefined;
    this.channel = undefined;
    this.handshake?.fail(new Error(reason));
    this.handshake = undefined;
    for (const request of this.rewrites.clear()) request.sender.events.message(errorResponse(request.id, `Request failed: ${reason}`));
    for (const share of this.shares) share.gone?.();
    this.serverRequests.clear();
    if (this.closed) return;
    this.failures++;
    const delay = restartDelayMs(this.failures);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.shares.size > 0) void this.ready().catch(() => undefined);
    }, delay);
    this.restartTimer.unref();
  }

  /** Rule: with the child's stdin over its bound, a session that has bytes of its own waiting is refused. Why: one flooding session must not lock the others out. */
  private accepting(share: Share): boolean {
    const channel = this.channel;
    return !channel || channel.queuedBy() < this.options.maxInputBytes || channel.queuedBy(share) === 0;
  }

  private fromSession(share: Share, wire: WireMessage): boolean {
    if (this.closed) return false;
    const message = wire.message;
    const method = (message as { method?: string }).method;
    // The bridge initialized the child itself; the session's own `initialized` has nothing to do there.
    if (wire.kind === 'notification' && method === 'notifications/initialized') return true;
    if (wire.kind === 'request') {
      const request = message as JSONRPCRequest;
      if (this.restartTimer !== undefined) {
        share.events.message(errorResponse(request.id, 'the MCP server is restarting after a failure; try again shortly'));
      } else if (request.method === 'initialize') {
        this.answerInitialize(share, request);
      } else if (this.handshake?.succeeded) {
        this.forwardRequest(share, request);
      } else {
        this.ready().then(
          () => this.forwardRequest(share, request),
          (error: Error) => share.events.message(errorResponse(request.id, error.message)),
        );
      }
      return true;
    }
    if (!this.channel) return true;
    if (method === 'notifications/cancelled') {
      const params = (message as { params: { requestId?: RequestId; reason?: string } }).params;
      const upstreamId = params.requestId === undefined ? undefined : share.upstreamIds.get(params.requestId);
      if (upstreamId === undefined) return true;
      return this.channel.send(ownMessage({ ...message, params: { ...params, requestId: upstreamId } } as JSONRPCMessage), share);
    }
    if (wire.kind === 'response') {
      const id = idOf(message);
      // Only the client that was asked may answer.
      if (id === undefined || this.serverRequests.get(id) !== share) return true;
      this.serverRequests.delete(id);
    }
    return this.channel.send(wire, share);
  }

  /** Answers from the child's own InitializeResult, in the protocol version this session asked for if the bridge speaks it. */
  private answerInitialize(share: Share, request: JSONRPCRequest): void {
    const asked = (request.params as { protocolVersion?: string } | undefined)?.protocolVersion;
    this.ready().then(
      (result) => {
        if (this.childEra === 'modern') {
          share.events.message(errorResponse(request.id, '--shared cannot serve a 2026-07-28-only server to 2025-era sessions: run it without --shared'));
          return;
        }
        const protocolVersion = asked && SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : result.protocolVersion;
        share.events.message(ownMessage({ jsonrpc: '2.0', id: request.id, result: { ...result, protocolVersion } }));
      },
      (error: Error) => share.events.message(errorResponse(request.id, error.message)),
    );
  }

  private forwardRequest(share: Share, request: JSONRPCRequest): void {
    const uri = (request.params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri === 'string') {
      if (request.method === 'resources/subscribe') share.subscriptions.add(uri);
      if (request.method === 'resources/unsubscribe') share.subscriptions.delete(uri);
    }
    // If the child is gone meanwhile, childGone answers the request with an error.
    this.channel?.send(ownMessage(this.rewrites.add(share, request)), share);
  }

  private fromChild(wire: WireMessage): void {
    if (wire.kind === 'response') this.fromChildResponse(wire.message);
    else if (wire.kind === 'request') this.fromChildRequest(wire);
    else this.fromChildNotification(wire);
  }

  private fromChildResponse(message: JSONRPCMessage): void {
    const id = idOf(message);
    const result = (message as { result?: Record<string, unknown> }).result;
    if (id === HANDSHAKE_ID && this.handshake?.pending) {
      if (result) {
        this.failures = 0;
        for (const after of afterHandshake(this.childEra, result, this.asClient())) this.channel?.send(after);
        this.handshake.succeed(result);
      } else {
        this.handshake.fail(new Error(`the MCP server refused to initialize: ${JSON.stringify((message as { error?: unknown }).error)}`));
        // Its exit restarts it after the usual delay.
        void this.child?.terminate(this.options.killGraceMs);
      }
      return;
    }
    const entry = this.rewrites.answered(id);
    entry?.sender.events.message(ownMessage({ ...message, id: entry.id } as JSONRPCMessage));
  }

  /**
   * Rule: a request from the child (sampling, elicitation, roots) goes to the one session with requests in
   * flight (one waiting for its client's answers does not count); with none or several it is answered with an
   * error, never guessed. `ping` is answered here. Why: stdio does not say which call a server request belongs
   * to, and the wrong user must never see it; a call waiting for answers asked all it had to ask.
   */
  private fromChildRequest(wire: WireMessage): void {
    const request = wire.message as JSONRPCRequest;
    if (request.method === 'ping') {
      this.channel?.send(ownMessage({ jsonrpc: '2.0', id: request.id, result: {} }));
      return;
    }
    const busy = this.busyShares();
    if (busy.length !== 1) {
      this.options.log.warn({ method: request.method, sessionsInFlight: busy.length }, 'shared child: server request not attributable; refused');
      this.channel?.send(errorResponse(request.id, `mcp-bridge cannot attribute ${request.method} to one client: several calls share this server process`));
      return;
    }
    this.serverRequests.set(request.id, busy[0]);
    busy[0].events.message(wire);
  }

  /**
   * Rule: progress goes to the owner of its token (restored to the session's own token); list_changed goes to
   * every session; resources/updated to the sessions subscribed to that URI; anything else (logging) to the
   * one session with requests in flight, else nowhere. Why: the only ties a shared child's notifications have
   * to a session are these; a wrong guess would leak one user's traffic to another.
   */
  private fromChildNotification(wire: WireMessage): void {
    const message = wire.message as JSONRPCMessage & { method: string; params?: Record<string, unknown> };
    const subscription = (message.params?._meta as Record<string, unknown> | undefined)?.[META.subscriptionId];
    if (subscription !== undefined) return this.toSubscriber(message, subscription);
    if (message.method === 'notifications/progress') {
      const entry = this.rewrites.byToken(message.params?.progressToken);
      if (entry) entry.sender.events.message(ownMessage({ ...message, params: { ...message.params, progressToken: entry.token } } as JSONRPCMessage));
      return;
    }
    if (LIST_CHANGED.test(message.method)) {
      for (const share of this.shares) share.events.message(wire);
      this.options.listChanged?.(wire);
      return;
    }
    if (message.method === 'notifications/resources/updated') {
      for (const share of this.shares) if (share.subscriptions.has(String(message.params?.uri))) share.events.message(wire);
      return;
    }
    const busy = this.busyShares();
    if (busy.length === 1) busy[0].events.message(wire);
    else this.options.log.debug({ method: message.method, sessionsInFlight: busy.length }, 'shared child: notification not attributable; dropped');
  }

  /** A 2026-07-28 child's listen-stream notification goes to the share whose listen request it names, with that share's id for it. */
  private toSubscriber(message: JSONRPCMessage & { method: string; params?: Record<string, unknown> }, subscription: unknown): void {
    const entry = this.rewrites.get(subscription);
    if (!entry) return;
    const _meta = { ...(message.params?._meta as Record<string, unknown>), [META.subscriptionId]: entry.id };
    entry.sender.events.message(ownMessage({ ...message, params: { ...message.params, _meta } } as JSONRPCMessage));
  }

  /** A session leaves: the child is told to drop its requests, and nothing more reaches it. */
  private detach(share: Share): void {
    this.shares.delete(share);
    for (const upstreamId of this.rewrites.leave(share)) {
      this.channel?.send(ownMessage({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upstreamId, reason: 'session ended' } }));
    }
    for (const [id, owner] of this.serverRequests) if (owner === share) this.serverRequests.delete(id);
  }
}
