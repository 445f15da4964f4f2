/**
 * The 2025-era children that serve one server's 2026-07-28 requests: each belongs to one client (a
 * principal at an address) and was initialized by the bridge with one set of client capabilities (the
 * ones its requests declare); it is shared by that client's requests that declare the same, started on
 * demand, bounded in number (overall and per client) and ended when idle. Each is a SharedChild, which
 * rewrites ids and progress tokens so that concurrent requests never collide. Why one client's: a
 * 2025-era server may keep per-connection state, and one client must never see another's.
 */
import { SharedChild, type SharedChildOptions, type SharedUpstream } from '../child/shared-child.js';
import type { UpstreamEvents } from '../child/upstream.js';
import type { Logger } from '../log.js';
import type { WireMessage } from '../protocol/jsonrpc.js';

export interface ModernChildrenOptions extends Omit<SharedChildOptions, 'capabilities' | 'clientName' | 'listChanged'> {
  /** Children at most, across every client and capability set. */
  maxChildren: number;
  /** Of which one client may hold at most. */
  maxChildrenPerClient: number;
  /** A child nobody has used this long is ended. */
  idleMs: number;
  /** Every list_changed of every child, for the listen streams. */
  listChanged: (wire: WireMessage) => void;
}

interface Member {
  owner: string;
  key: string;
  child: SharedChild;
  /** Calls and listen streams attached now. */
  users: number;
  lastUsed: number;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** `{}` with only the named members of `value` that are present, each as `{}`. */
const members = (value: Record<string, unknown>, names: string[]) => Object.fromEntries(names.filter((name) => value[name] !== undefined).map((name) => [name, {}]));

/**
 * The capabilities a child is initialized with for a request that declares `declared`, and their key: only
 * what changes what a 2025-era server may ask of its client (elicitation and its modes, sampling and its
 * context and tools, roots), each reduced to its presence. Why: so that clients cannot make a new set (and a
 * new child) of every request by varying the rest.
 */
export function childCapabilities(declared: Record<string, unknown>): { key: string; capabilities: Record<string, unknown> } {
  const capabilities: Record<string, unknown> = {};
  if (isObject(declared.elicitation)) capabilities.elicitation = members(declared.elicitation, ['form', 'url']);
  if (isObject(declared.sampling)) capabilities.sampling = members(declared.sampling, ['context', 'tools']);
  if (isObject(declared.roots)) capabilities.roots = {};
  return { key: JSON.stringify(capabilities), capabilities };
}

export class ModernChildren {
  private readonly members: Member[] = [];
  private readonly reaper: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: ModernChildrenOptions) {
    this.reaper = setInterval(() => this.reap(), Math.max(1000, Math.min(60_000, options.idleMs / 4)));
    this.reaper.unref();
  }

  get size(): number {
    return this.members.length;
  }

  /** A share of one of `owner`'s children declared with these capabilities, or undefined when none can be had. */
  attach(
    owner: string,
    declared: Record<string, unknown>,
    log: () => Logger,
    events: UpstreamEvents,
    gone?: () => void,
  ): { child: SharedChild; upstream: SharedUpstream } | undefined {
    const member = this.place(owner, declared);
    if (!member) return undefined;
    member.users++;
    member.lastUsed = performance.now();
    const upstream = member.child.attach(log, events, gone);
    let open = true;
    return {
      child: member.child,
      upstream: {
        ...upstream,
        get pid() {
          return upstream.pid;
        },
        close: (graceMs) => {
          if (open) {
            open = false;
            member.users--;
            member.lastUsed = performance.now();
          }
          return upstream.close(graceMs);
        },
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    await Promise.all(this.members.splice(0).map((member) => member.child.close()));
  }

  /**
   * Rule: a request goes to one of its client's children initialized with its capabilities that runs no call
   * (parked ones do not count; a 2026-07-28 child is never too busy); else to a new one while its client holds
   * fewer than maxChildrenPerClient (ending that client's own child that runs no call, if it holds that many)
   * and the server fewer than maxChildren (ending another client's unused child to make room); else to the
   * least busy of its client's children of its set; else it is refused. Why: stdio cannot say which call a
   * server request belongs to, so running calls share a child only under load; a client's children hold its
   * state and only its own calls; and one client must not take every child.
   */
  private place(owner: string, declared: Record<string, unknown>): Member | undefined {
    if (this.closed) return undefined;
    const { key, capabilities } = childCapabilities(declared);
    const own = this.members.filter((member) => member.owner === owner);
    const same = own.filter((member) => member.key === key);
    const idle = same.find((member) => member.child.era === 'modern' || member.child.busy === 0);
    if (idle) return idle;
    if (own.length >= this.options.maxChildrenPerClient) {
      const spare = own.find((member) => member.key !== key && member.child.busy === 0);
      if (spare) this.end(spare);
    }
    if (this.members.length >= this.options.maxChildren && own.length < this.options.maxChildrenPerClient) {
      const unused = this.members.find((member) => member.users === 0 && member.owner !== owner);
      if (unused) this.end(unused);
    }
    const room = this.members.filter((member) => member.owner === owner).length < this.options.maxChildrenPerClient && this.members.length < this.options.maxChildren;
    if (room) {
      const member: Member = { owner, key, child: this.newChild(capabilities), users: 0, lastUsed: performance.now() };
      this.members.push(member);
      return member;
    }
    return same.sort((a, b) => a.child.busy - b.child.busy)[0];
  }

  private newChild(capabilities: Record<string, unknown>): SharedChild {
    const { maxChildren: _max, maxChildrenPerClient: _perClient, idleMs: _idle, listChanged, ...shared } = this.options;
    return new SharedChild({ ...shared, capabilities, clientName: 'mcp-bridge (2026-07-28 translation)', listChanged });
  }

  /** Rule: a child no request or listen stream has used for idleMs is ended. Why: each holds a process and its memory. */
  private reap(): void {
    const now = performance.now();
    for (const member of [...this.members]) if (member.users === 0 && now - member.lastUsed >= this.options.idleMs) this.end(member);
  }

  private end(member: Member): void {
    this.members.splice(this.members.indexOf(member), 1);
    void member.child.close();
  }
}
