/**
 * All sessions of every server: lookup by id, the session caps (per client, per server, for the whole
 * bridge) with eviction, the clock that times sessions out, ending them all. A session counts toward the
 * caps until its child has exited.
 */
import type { Session } from './session.js';

type CapScope = 'client' | 'server' | 'bridge';

/** A server's side of the caps: its name (which sessions are its) and its own cap. */
export interface ServerCap {
  name: string;
  maxSessions: number;
}

/** A cap is reached and nothing under it can be evicted. */
export class CapacityError extends Error {
  constructor(
    message: string,
    /** `client`: this client's own cap; `server`: the server's; `bridge`: the one for all servers. */
    readonly scope: CapScope,
  ) {
    super(message);
  }
}

/** How often sessions are ticked (timeouts, idleness, stalled clients). */
export const TICK_MS = 250;

/**
 * Rule: evict the least recently used idle session; failing that, a session with nothing in flight for
 * `quietMs` (--evict-quiet-after; its open stream is closed and its client re-initializes), taken from the
 * client holding the most of them; a session with a call in flight is never evicted. Why: clients rarely
 * send DELETE, and a GET stream alone must not let a few clients hold every place, but a user mid-call
 * must not lose it.
 */
export function pickEvictionVictim(sessions: Iterable<Session>, now: number, quietMs: number): Session | undefined {
  let idle: Session | undefined;
  const quiet: Session[] = [];
  for (const session of sessions) {
    if (!session.isOpen) continue;
    if (session.isIdle()) {
      if (!idle || session.lastUsedAt < idle.lastUsedAt) idle = session;
    } else if (session.isQuietFor(quietMs, now)) {
      quiet.push(session);
    }
  }
  if (idle || quiet.length === 0) return idle;
  const held = new Map<string, number>();
  for (const session of quiet) held.set(session.clientKey, (held.get(session.clientKey) ?? 0) + 1);
  const heavier = (a: Session, b: Session) =>
    (held.get(b.clientKey) ?? 0) - (held.get(a.clientKey) ?? 0) || a.lastUsedAt - b.lastUsedAt;
  return quiet.sort(heavier)[0];
}

/** A place in the registry for a session being started: filled with the session, or released if it never starts. */
export interface Reservation {
  fill(session: Session): void;
  release(): void;
}

export interface RegistryLimits {
  maxSessions: number;
  maxSessionsPerClient: number;
  /** How long a new session may wait for an evicted one's child to exit before it is refused. */
  evictionWaitMs: number;
  /** At a cap, a session with nothing in flight this long may be evicted even with a stream open. */
  evictQuietAfterMs: number;
}

export class SessionRegistry {
  /** Every session whose child may still be alive: open ones and those ending. */
  private readonly sessions = new Set<Session>();
  private readonly byId = new Map<string, Session>();
  /** Places reserved for sessions whose child is being spawned, by client address and by server. */
  private readonly starting = new Map<string, number>();
  private readonly startingFor = new Map<string, number>();
  private startingTotal = 0;
  private readonly clock: NodeJS.Timeout;
  /** Set on SIGTERM with --drain-timeout: no session starts, and each ends once it has nothing in flight. */
  private draining = false;

  constructor(private readonly limits: RegistryLimits) {
    this.clock = setInterval(() => {
      const now = performance.now();
      for (const session of this.sessions) {
        session.tick(now);
        if (this.draining) endIfDrained(session, now);
      }
    }, TICK_MS);
    this.clock.unref();
  }

  /** Sessions that are not ending. */
  get size(): number {
    return this.byId.size;
  }

  /** Places left for the server under its cap and the bridge's (for its warm pool's children). */
  room(server: ServerCap): number {
    const bridge = this.limits.maxSessions - this.sessions.size - this.startingTotal;
    return Math.max(0, Math.min(bridge, server.maxSessions - this.countOf(server)));
  }

  /** Whether a new session of the server could be served now: a free place, or a session to evict. */
  hasRoom(server: ServerCap): boolean {
    if (this.draining) return false;
    if (this.room(server) > 0) return true;
    const full = this.fullScope(undefined, server);
    return full !== undefined && pickEvictionVictim(this.candidates(full.scope, undefined, server), performance.now(), this.limits.evictQuietAfterMs) !== undefined;
  }

  /**
   * Takes a place for a session about to start for `client`. At a cap (the client's own first) a session is
   * evicted and its child awaited, since the cap is about processes and memory; throws CapacityError when
   * nothing can go or it does not go in time. Places are taken before the child is spawned, so concurrent
   * initializes cannot overshoot a cap.
   */
  async reserve(client: string, server: ServerCap): Promise<Reservation> {
    if (this.draining) throw new CapacityError('this node is shutting down and takes no new sessions', 'bridge');
    const deadline = performance.now() + this.limits.evictionWaitMs;
    for (;;) {
      const full = this.fullScope(client, server);
      if (!full) break;
      const candidates = this.candidates(full.scope, client, server);
      pickEvictionVictim(candidates, performance.now(), this.limits.evictQuietAfterMs)?.end('evicted');
      const ending = candidates.filter((session) => !session.isOpen);
      const left = deadline - performance.now();
      if (ending.length === 0 || left <= 0 || !(await endsWithin(ending, left))) throw new CapacityError(full.message, full.scope);
    }
    return this.take(client, server.name);
  }

  add(session: Session): void {
    this.sessions.add(session);
    this.byId.set(session.id, session);
    void session.ended.then(() => this.sessions.delete(session));
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Called as a session starts ending: it is no longer found, but counts until its child is gone. */
  forget(session: Session): void {
    this.byId.delete(session.id);
  }

  /** Takes no new session, and waits up to `timeoutMs` for every session to end once its calls are answered; true if all did. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    const now = performance.now();
    for (const session of this.sessions) endIfDrained(session, now);
    return endsWithin([...this.sessions], timeoutMs, 'all');
  }

  /** Ends every session and waits for their children, up to `timeoutMs`; true if all ended in time. */
  async endAll(timeoutMs: number): Promise<boolean> {
    clearInterval(this.clock);
    for (const session of this.sessions) void session.end('shutdown');
    return endsWithin([...this.sessions], timeoutMs, 'all');
  }

  /** The sessions of a scope: what eviction may choose from when that cap is reached. */
  private candidates(scope: CapScope, client: string | undefined, server: ServerCap): Session[] {
    if (scope === 'client') return [...this.sessions].filter((s) => s.clientKey === client);
    if (scope === 'server') return [...this.sessions].filter((s) => s.server === server.name);
    return [...this.sessions];
  }

  /** The server's sessions, open, ending or starting. */
  private countOf(server: ServerCap): number {
    let count = this.startingFor.get(server.name) ?? 0;
    for (const session of this.sessions) if (session.server === server.name) count++;
    return count;
  }

  /** The cap a new session of `client` (none: any client) for `server` would pass, the client's first. */
  private fullScope(client: string | undefined, server: ServerCap): { scope: CapScope; message: string } | undefined {
    const { maxSessions, maxSessionsPerClient } = this.limits;
    let own = client === undefined ? 0 : (this.starting.get(client) ?? 0);
    if (client !== undefined) for (const session of this.sessions) if (session.clientKey === client) own++;
    if (own >= maxSessionsPerClient) {
      return { scope: 'client', message: `this client already has ${maxSessionsPerClient} busy session${maxSessionsPerClient === 1 ? '' : 's'}` };
    }
    // A server cap no narrower than the bridge's is the bridge's: it is reported as that.
    if (server.maxSessions < maxSessions && this.countOf(server) >= server.maxSessions) {
      const n = server.maxSessions;
      return { scope: 'server', message: `all ${n} session${n === 1 ? '' : 's'} of server "${server.name}" ${n === 1 ? 'is' : 'are'} busy` };
    }
    if (this.sessions.size + this.startingTotal >= maxSessions) {
      return { scope: 'bridge', message: `all ${maxSessions} session${maxSessions === 1 ? ' is' : 's are'} busy` };
    }
    return undefined;
  }

  private take(client: string, server: string): Reservation {
    count(this.starting, client, 1);
    count(this.startingFor, server, 1);
    this.startingTotal++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.startingTotal--;
      count(this.starting, client, -1);
      count(this.startingFor, server, -1);
      return true;
    };
    return {
      fill: (session) => {
        if (settle()) this.add(session);
      },
      release: () => void settle(),
    };
  }
}

/**
 * Rule: while the node drains, a session ends as soon as nothing of it is in flight. Why: no call is cut
 * off, and its client, finding the session gone (404), re-initializes on another node.
 */
function endIfDrained(session: Session, now: number): void {
  if (session.isOpen && session.isQuietFor(0, now)) void session.end('drained');
}

/** Adds `by` to a key's count, forgetting keys that reach zero. */
function count(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

/** Resolves true once one (or `all`) of the sessions has ended, false after `ms`. */
function endsWithin(sessions: Session[], ms: number, how: 'one' | 'all' = 'one'): Promise<boolean> {
  const ended = sessions.map((session) => session.ended);
  const done = how === 'all' ? Promise.all(ended) : Promise.race(ended);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([done.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
