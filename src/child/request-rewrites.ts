/**
 * The requests of several senders (sessions, 2026-07-28 calls) in one child's hands: each under an id of
 * the bridge's, and its progress token too, so that two senders' ids and tokens never collide, and each
 * answer and progress goes back to its sender under the sender's own. Owner: one SharedChild; bound: the
 * requests in flight, which its senders' own bounds hold (--max-inflight, the calls' limits); an entry
 * leaves with its answer, its sender, or the child.
 */
import type { JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import type { RequestId } from '../protocol/jsonrpc.js';

type Token = string | number;

/** A sender as the table knows it: its requests in flight, the child's id for each by the sender's own. */
export interface Sender {
  upstreamIds: Map<RequestId, number>;
}

/** A sender's request as the child knows it. */
export interface Forwarded<S extends Sender> {
  sender: S;
  id: RequestId;
  token: Token | undefined;
}

export class RequestRewrites<S extends Sender> {
  private nextId = 1;
  private readonly forwarded = new Map<number, Forwarded<S>>();
  private readonly tokens = new Map<string, Forwarded<S>>();

  /** The request as the child gets it: under an id (and progress token) of the bridge's. */
  add(sender: S, request: JSONRPCRequest): JSONRPCRequest {
    const upstreamId = this.nextId++;
    const params = request.params as ({ _meta?: Record<string, unknown> } & Record<string, unknown>) | undefined;
    const token = params?._meta?.progressToken as Token | undefined;
    const entry: Forwarded<S> = { sender, id: request.id, token };
    this.forwarded.set(upstreamId, entry);
    sender.upstreamIds.set(request.id, upstreamId);
    if (token === undefined) return { ...request, id: upstreamId };
    const upstreamToken = `p${upstreamId}`;
    this.tokens.set(upstreamToken, entry);
    return { ...request, id: upstreamId, params: { ...params, _meta: { ...params?._meta, progressToken: upstreamToken } } };
  }

  /** The request a child's id names (still in flight). */
  get(upstreamId: unknown): Forwarded<S> | undefined {
    return typeof upstreamId === 'number' ? this.forwarded.get(upstreamId) : undefined;
  }

  /** The request whose (rewritten) progress token this is. */
  byToken(token: unknown): Forwarded<S> | undefined {
    return this.tokens.get(String(token));
  }

  /** The request a child's id names, answered now: it leaves the table. */
  answered(upstreamId: unknown): Forwarded<S> | undefined {
    const entry = this.get(upstreamId);
    if (entry) this.forget(upstreamId as number, entry);
    return entry;
  }

  /** A sender leaves: its requests leave the table; their child ids, to cancel them there. */
  leave(sender: S): number[] {
    const ids = [...sender.upstreamIds.values()];
    for (const upstreamId of ids) {
      const entry = this.forwarded.get(upstreamId);
      if (entry) this.forget(upstreamId, entry);
    }
    return ids;
  }

  /** The child is gone: every request in flight, which leave the table. */
  clear(): Forwarded<S>[] {
    const all = [...this.forwarded.values()];
    for (const entry of all) entry.sender.upstreamIds.clear();
    this.forwarded.clear();
    this.tokens.clear();
    return all;
  }

  private forget(upstreamId: number, entry: Forwarded<S>): void {
    this.forwarded.delete(upstreamId);
    entry.sender.upstreamIds.delete(entry.id);
    if (entry.token !== undefined) this.tokens.delete(`p${upstreamId}`);
  }
}
