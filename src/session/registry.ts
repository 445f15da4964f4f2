/** All live sessions: lookup by id, the session cap with LRU eviction, and ending them all on shutdown. */
import type { Session } from './session.js';

/** The cap is reached and every session is busy. */
export class CapacityError extends Error {}

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

export class SessionRegistry {
  /** Sessions that count toward the cap: started and not yet ending. */
  private readonly live = new Set<Session>();
  private readonly byId = new Map<string, Session>();
  /** Sessions still shutting their child down. */
  private readonly ending = new Set<Session>();
  /** Places reserved for sessions whose child is being spawned. */
  private starting = 0;

  constructor(private readonly maxSessions: number) {}

  get size(): number {
    return this.live.size;
  }

  /**
   * Takes a place for a session about to start, evicting an idle one at the cap; throws CapacityError when
   * every session is busy. Places are taken before the child is spawned, so concurrent initializes cannot
   * overshoot the cap.
   */
  reserve(): Reservation {
    if (this.live.size + this.starting >= this.maxSessions) {
      const victim = pickEvictionVictim(this.live);
      if (!victim) throw new CapacityError(`all ${this.maxSessions} sessions are busy`);
      void victim.end('evicted');
    }
    this.starting++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.starting--;
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
}
