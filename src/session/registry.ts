/** All live sessions: lookup by id, the session caps (global and per client) with LRU eviction, ending them all. */
import type { Session } from './session.js';

/** A cap is reached and nothing under it can be evicted. */
export class CapacityError extends Error {
  constructor(
    message: string,
    /** `client`: this client's own cap; `bridge`: the global one. */
    readonly scope: 'client' | 'bridge',
  ) {
    super(message);
  }
}

/**
 * Rule: evict the least recently used idle session; a session with a call in flight or a stream open is never
 * evicted. Why: clients rarely send DELETE, so abandoned sessions pile up, but a user mid-call must not lose it.
 */
export function pickEvictionVictim(sessions: Iterable<Session>): Session | undefined {
  let victim: Session | undefined;
  for (const session of sessions) {
    if (session.isIdle() && (victim === undefined || session.lastUsedAt < victim.lastUsedAt)) victim = session;
  }
  return victim;
}

/** A place in the registry for a session being started: filled with the session, or released if it never starts. */
export interface Reservation {
  fill(session: Session): void;
  release(): void;
}

export interface RegistryLimits {
  maxSessions: number;
  maxSessionsPerClient: number;
}

export class SessionRegistry {
  /** Sessions that count toward the caps: started and not yet ending. */
  private readonly live = new Set<Session>();
  private readonly byId = new Map<string, Session>();
  /** Sessions still shutting their child down. */
  private readonly ending = new Set<Session>();
  /** Places reserved for sessions whose child is being spawned, by client address. */
  private readonly starting = new Map<string, number>();
  private startingTotal = 0;

  constructor(private readonly limits: RegistryLimits) {}

  get size(): number {
    return this.live.size;
  }

  /** Places left under the global cap (for the warm pool's children). */
  room(): number {
    return Math.max(0, this.limits.maxSessions - this.live.size - this.startingTotal);
  }

  /** Whether a new session could be served now: a free place, or an idle session to evict. */
  hasRoom(): boolean {
    return this.live.size + this.startingTotal < this.limits.maxSessions || pickEvictionVictim(this.live) !== undefined;
  }

  /**
   * Takes a place for a session about to start for `client`, evicting an idle session at a cap (the client's
   * own first, when its own cap is the one reached); throws CapacityError when nothing can go. Places are
   * taken before the child is spawned, so concurrent initializes cannot overshoot a cap.
   */
  reserve(client: string): Reservation {
    const own = [...this.live].filter((session) => session.clientAddress === client);
    if (own.length + (this.starting.get(client) ?? 0) >= this.limits.maxSessionsPerClient) {
      this.evictOrThrow(own, new CapacityError(`this client already has ${this.limits.maxSessionsPerClient} busy sessions`, 'client'));
    } else if (this.live.size + this.startingTotal >= this.limits.maxSessions) {
      this.evictOrThrow(this.live, new CapacityError(`all ${this.limits.maxSessions} sessions are busy`, 'bridge'));
    }
    this.starting.set(client, (this.starting.get(client) ?? 0) + 1);
    this.startingTotal++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.startingTotal--;
      const left = (this.starting.get(client) ?? 1) - 1;
      if (left > 0) this.starting.set(client, left);
      else this.starting.delete(client);
      return true;
    };
    return {
      fill: (session) => {
        if (settle()) this.live.add(session);
      },
      release: () => void settle(),
    };
  }

  index(session: Session): void {
    if (session.id !== undefined) this.byId.set(session.id, session);
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Called as a session starts ending: it is no longer found, no longer counted, but still awaited on shutdown. */
  forget(session: Session): void {
    this.live.delete(session);
    if (session.id !== undefined) this.byId.delete(session.id);
    this.ending.add(session);
    void session.ended.then(() => this.ending.delete(session));
  }

  /** Ends every session and waits for their children, up to `timeoutMs`; true if all ended in time. */
  async endAll(timeoutMs: number): Promise<boolean> {
    for (const session of [...this.live]) void session.end('shutdown');
    const all = Promise.all([...this.ending].map((session) => session.ended)).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return done;
  }

  private evictOrThrow(candidates: Iterable<Session>, error: CapacityError): void {
    const victim = pickEvictionVictim(candidates);
    if (!victim) throw error;
    void victim.end('evicted');
  }
}
