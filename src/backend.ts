/**
 * One configured MCP server at run time: how its sessions reach a child (one of their own, taken from its
 * warm pool or spawned, or a share of its shared child), its place in the caps, its tool filter, and whether
 * it can take a new session now. Servers are independent: one whose command cannot run is not ready, and
 * the others go on serving.
 */
import { probeEra, type ChildEra } from './child/child-era.js';
import { ChildProcess } from './child/child-process.js';
import { newSessionId } from './session/session-id.js';
import type { Containment } from './child/containment.js';
import { commandIsRunnable } from './child/find-command.js';
import type { OrphanGuard } from './child/orphan-guard.js';
import { SharedChild } from './child/shared-child.js';
import { dedicatedUpstream, type Upstream, type UpstreamEvents } from './child/upstream.js';
import { WarmPool } from './child/warm-pool.js';
import type { Config, ServerConfig } from './config.js';
import { modernChildUpstream } from './era/modern-child.js';
import { ModernChildren } from './era/modern-children.js';
import { ModernFront } from './era/modern-front.js';
import { RequestStateCodec } from './era/request-state.js';
import type { Logger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import { VERSION } from './version.js';
import type { OutboundBudget } from './session/outbound-log.js';
import type { Reservation, ServerCap, SessionRegistry } from './session/registry.js';
import { Session } from './session/session.js';
import { ToolFilter } from './session/tool-filter.js';

export interface BackendDeps {
  config: Config;
  server: ServerConfig;
  registry: SessionRegistry;
  budget: OutboundBudget;
  metrics: ServerMetrics;
  log: Logger;
  guard: OrphanGuard;
  containment: Containment;
}

/** Who opens a session: the client it counts toward, its address for logs, and the principal it belongs to. */
export interface Opener {
  key: string;
  address: string;
  principal: string;
}

type Connect = (log: () => Logger, events: UpstreamEvents) => Upstream;

export class Backend {
  readonly name: string;
  readonly cap: ServerCap;
  readonly metrics: ServerMetrics;
  private readonly tools: ToolFilter | undefined;
  private readonly pool: WarmPool | undefined;
  private readonly shared: SharedChild | undefined;
  /** Its 2026-07-28 side (--modern): children of its own, never a session's. */
  readonly modern: ModernFront | undefined;
  private readonly channelLimits: { maxLineBytes: number; maxInputBytes: number; stallTimeoutMs: number };
  /** The era of its command, once known (probed on the first child with --child-era auto). */
  private era: Promise<ChildEra> | undefined;

  constructor(private readonly deps: BackendDeps) {
    const { config, server, log } = deps;
    const { limits } = config;
    this.name = server.name;
    this.cap = { name: server.name, maxSessions: server.maxSessions };
    this.metrics = deps.metrics;
    this.metrics.declare();
    this.tools = server.tools && new ToolFilter(server.tools);
    this.channelLimits = { maxLineBytes: limits.maxChildLineBytes, maxInputBytes: limits.maxInputBufferBytes, stallTimeoutMs: limits.stallTimeoutMs };
    const spawn = () => this.spawnChild();
    const era = (child: ChildProcess) => this.eraOf(child);
    this.pool = server.pool > 0 ? new WarmPool(server.pool, spawn, () => deps.registry.room(this.cap), log, config.killGraceMs) : undefined;
    this.shared = server.shared
      ? new SharedChild({ spawn, era, log, metrics: this.metrics, ...this.channelLimits, ...this.childTimes(), version: VERSION })
      : undefined;
    this.modern = config.modern && this.modernFront(config.modern, spawn, era);
  }

  private modernFront(
    modern: NonNullable<Config['modern']>,
    spawn: () => Promise<ChildProcess>,
    era: (child: ChildProcess) => Promise<ChildEra | 'exited'>,
  ): ModernFront {
    const { config, server, log } = this.deps;
    const modernLog = log.child({ era: '2026-07-28' });
    let front: ModernFront | undefined;
    const children = new ModernChildren({
      spawn,
      era,
      log: modernLog,
      metrics: this.metrics,
      ...this.channelLimits,
      ...this.childTimes(),
      version: VERSION,
      // The bridge filters logs per request (its _meta logLevel), so the child sends them all.
      logLevel: 'debug',
      maxChildren: modern.maxChildren,
      maxChildrenPerClient: modern.maxChildrenPerClient,
      idleMs: server.idleTimeoutMs,
      listChanged: (wire) => front?.listChanged(wire),
    });
    front = new ModernFront({
      children,
      codec: new RequestStateCodec(),
      nodeId: config.cluster.nodeId,
      tools: this.tools,
      log: modernLog,
      limits: {
        ...modern,
        requestTimeoutMs: config.limits.requestTimeoutMs,
        maxInflightPerClient: config.limits.maxInflightPerSession,
        maxStreamBytes: config.limits.maxStreamBufferBytes,
        killGraceMs: config.killGraceMs,
      },
    });
    return front;
  }

  /** How long a shared child may take to answer its handshake, and to end. */
  private childTimes(): { initTimeoutMs: number; killGraceMs: number } {
    return { initTimeoutMs: this.deps.config.limits.requestTimeoutMs, killGraceMs: this.deps.config.killGraceMs };
  }

  /** Fills the warm pool, once the bridge listens. */
  start(): void {
    this.pool?.refill();
  }

  /** Starts a session in the reserved place, spawning or taking its child; rejects when the command cannot start. */
  async startSession(reservation: Reservation, opener: Opener, protocolVersion: string): Promise<Session> {
    const connect = await this.upstream();
    const session = new Session(connect, {
      id: newSessionId(this.deps.config.cluster.nodeId),
      config: this.deps.config,
      server: this.deps.server,
      tools: this.tools,
      log: this.deps.log,
      budget: this.deps.budget,
      metrics: this.metrics,
      clientKey: opener.key,
      clientAddress: opener.address,
      principal: opener.principal,
      protocolVersion,
      hooks: {
        ending: (s) => {
          this.deps.registry.forget(s);
          // Its child's place is free once the child is gone.
          void s.ended.then(() => this.pool?.refill());
        },
      },
    });
    reservation.fill(session);
    return session;
  }

  /** Rule: a server is ready while its command can be run and a session of it fits (or one can be evicted). */
  notReady(): string | undefined {
    const { child, childEnv, childCwd } = this.deps.server;
    if (!commandIsRunnable(child.command, childEnv.PATH, childCwd)) return 'the MCP server command cannot be run';
    if (!this.deps.registry.hasRoom(this.cap)) return 'every session is busy';
    return undefined;
  }

  /** Stops the warm pool (before the sessions end). */
  async stopPool(): Promise<void> {
    await this.pool?.close();
  }

  /** Ends the shared child and the 2026-07-28 children (after the sessions). */
  async close(): Promise<void> {
    await Promise.all([this.shared?.close(), this.modern?.close()]);
  }

  private async spawnChild(): Promise<ChildProcess> {
    const { server, guard, containment } = this.deps;
    const child = await ChildProcess.spawn({ command: server.child, env: server.childEnv, cwd: server.childCwd, guard, containment });
    this.metrics.childSpawned();
    return child;
  }

  /**
   * How a new session reaches its server: a share of the shared child, or a child of its own, spoken to in
   * its era (a 2026-07-28-only child through the translation of modern-child.ts).
   */
  private async upstream(): Promise<Connect> {
    const { shared } = this;
    if (shared) return (sessionLog, events) => shared.attach(sessionLog, events);
    let child = this.pool?.take() ?? (await this.spawnChild());
    let era = await this.eraOf(child);
    if (era === 'exited') {
      // It died of the probe (a 2025-era server that takes no unknown request): the session gets a fresh one.
      child = await this.spawnChild();
      era = 'legacy';
    }
    const context = (sessionLog: () => Logger) => ({ log: sessionLog, metrics: this.metrics, ...this.channelLimits });
    if (era === 'legacy') return (sessionLog, events) => dedicatedUpstream(child, context(sessionLog), events);
    return (sessionLog, events) => modernChildUpstream((inner) => dedicatedUpstream(child, context(sessionLog), inner), sessionLog, events);
  }

  /**
   * Rule: with --child-era auto, the server's first child is probed (server/discover) and its era holds for
   * every later child; a probe that could not run (the child died of it) settles on 2025. Why: the era is the
   * command's, and probing each child would cost every session a round trip and send 2025 servers a request
   * they have no use for; the spec's dual-era clients probe the same way.
   */
  private eraOf(child: ChildProcess): Promise<ChildEra | 'exited'> {
    const setting = this.deps.server.childEra;
    if (setting !== 'auto') return Promise.resolve(setting);
    if (this.era) return this.era;
    const probed = probeEra(child);
    this.era = probed.then((era) => {
      this.deps.log.info({ era: era === 'modern' ? '2026-07-28' : '2025', childPid: child.pid }, 'the MCP server speaks this protocol era');
      return era === 'exited' ? 'legacy' : era;
    });
    return probed;
  }
}
