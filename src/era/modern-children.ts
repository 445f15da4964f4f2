/**
 * The 2025-era children that serve one server's 2026-07-28 requests: each initialized by the bridge with
 * one set of client capabilities (the ones a request declares), shared by the requests that declare the
 * same, started on demand, bounded in number and ended when idle. Each is a SharedChild, which rewrites
 * ids and progress tokens so that concurrent requests never collide.
 */
import { SharedChild, type SharedChildOptions, type SharedUpstream } from '../child/shared-child.js';
import type { UpstreamEvents } from '../child/upstream.js';
import type { Logger } from '../log.js';
import type { WireMessage } from '../protocol/jsonrpc.js';

export interface ModernChildrenOptions extends Omit<SharedChildOptions, 'capabilities' | 'clientName' | 'listChanged'> {
  /** Children at most, across every capability set. */
  maxChildren: number;
  /** A child nobody has used this long is ended. */
  idleMs: number;
  /** Every list_changed of every child, for the listen streams. */
  listChanged: (wire: WireMessage) => void;
}

interface Member {
  key: string;
  child: SharedChild;
  /** Calls and listen streams attached now. */
  users: number;
  lastUsed: number;
}

/** The client capabilities that change what a 2025-era server may ask of its client. */
const ASKING_CAPABILITIES = ['elicitation', 'roots', 'sampling'] as const;

/** The capabilities a child is initialized with for a request that declares `declared`, and their key. */
export function childCapabilities(declared: Record<string, unknown>): { key: string; capabilities: Record<string, unknown> } {
  const capabilities: Record<string, unknown> = {};
  for (const name of ASKING_CAPABILITIES) if (declared[name] !== undefined) capabilities[name] = declared[name];
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

  /** A share of a child declared with these capabilities, or undefined when every child is busy. */
  attach(declared: Record<string, unknown>, log: () => Logger, events: UpstreamEvents): { child: SharedChild; upstream: SharedUpstream } | undefined {
    const member = this.place(declared);
    if (!member) return undefined;
    member.users++;
    member.lastUsed = performance.now();
    const upstream = member.child.attach(log, events);
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
   * Rule: a request goes to a child initialized with its capabilities that runs no call (parked ones do not
   * count; a 2026-07-28 child is never too busy), else to a new one while the bound allows (ending an unused child of another set to make room),
   * else to the least busy child of its set; with none of its set and no room, it is refused. Why: stdio cannot
   * say which call a server request belongs to, so running calls share a child only under load; and a child
   * must never be told of capabilities the caller did not declare.
   */
  private place(declared: Record<string, unknown>): Member | undefined {
    if (this.closed) return undefined;
    const { key, capabilities } = childCapabilities(declared);
    const same = this.members.filter((member) => member.key === key);
    // A 2026-07-28 child asks its client nothing over stdio: any number of calls can share it.
    const idle = same.find((member) => member.child.era === 'modern' || member.child.busy === 0);
    if (idle) return idle;
    if (this.members.length >= this.options.maxChildren) {
      const unused = this.members.find((member) => member.users === 0 && member.key !== key);
      if (unused && same.length === 0) this.end(unused);
    }
    if (this.members.length < this.options.maxChildren) {
      const member: Member = { key, child: this.newChild(capabilities), users: 0, lastUsed: performance.now() };
      this.members.push(member);
      return member;
    }
    return same.sort((a, b) => a.child.busy - b.child.busy)[0];
  }

  private newChild(capabilities: Record<string, unknown>): SharedChild {
    const { maxChildren: _max, idleMs: _idle, listChanged, ...shared } = this.options;
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
