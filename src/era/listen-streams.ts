/**
 * `subscriptions/listen`: 2026-07-28's replacement for the GET stream. Each listen request holds an SSE
 * stream open; it gets the server's list_changed (from any of its children, once per burst) that its filter
 * asks for, and `resources/updated` for the URIs it names, which the bridge subscribes to on a child.
 */
import { randomUUID } from 'node:crypto';
import type { Upstream, UpstreamEvents } from '../child/upstream.js';
import { ownMessage, type JSONRPCMessage, type RequestId, type WireMessage } from '../protocol/jsonrpc.js';
import type { EventSink } from '../session/stream.js';
import type { ClientQuota, Held } from './client-quota.js';
import { META } from '../protocol/modern.js';

export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** A burst of one list_changed (several children, one change) reaches a stream once within this long. */
const SAME_CHANGE_MS = 100;
/** URIs one listen stream may subscribe to. */
export const MAX_RESOURCE_SUBSCRIPTIONS = 256;

const FILTER_OF: Record<string, keyof ListenFilter> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

/** The filter a listen request asks for, as far as it is well-formed. */
export function listenFilterOf(params: unknown): ListenFilter {
  const notifications = (params as { notifications?: Record<string, unknown> } | undefined)?.notifications ?? {};
  const filter: ListenFilter = {};
  for (const key of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) if (notifications[key] === true) filter[key] = true;
  const uris = notifications.resourceSubscriptions;
  if (Array.isArray(uris)) filter.resourceSubscriptions = uris.filter((uri): uri is string => typeof uri === 'string').slice(0, MAX_RESOURCE_SUBSCRIPTIONS);
  return filter;
}

export class ListenStream {
  readonly id = randomUUID();
  private readonly lastSent = new Map<string, number>();
  private upstream: Upstream | undefined;
  private over = false;

  /** Events of the share that holds its resource subscriptions. */
  readonly events: UpstreamEvents = {
    message: (wire) => {
      if ((wire.message as { method?: string }).method === 'notifications/resources/updated') this.send(wire.message);
    },
    ended: () => this.close(),
  };

  constructor(
    readonly clientKey: string,
    private readonly requestId: RequestId,
    private readonly filter: ListenFilter,
    private readonly sink: EventSink,
    private readonly quota: ClientQuota<Held>,
    private readonly maxStreamBytes: number,
    private readonly killGraceMs: number,
  ) {}

  /** Acknowledges the stream, and subscribes to its resources on `upstream` (a share of a child). */
  open(upstream: Upstream | undefined): void {
    this.upstream = upstream;
    this.sink.listen({ drained: () => undefined, closed: () => this.close() });
    this.send({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: this.filter } });
    let id = 0;
    for (const uri of this.filter.resourceSubscriptions ?? []) {
      upstream?.send(ownMessage({ jsonrpc: '2.0', id: `subscribe-${++id}`, method: 'resources/subscribe', params: { uri } }));
    }
  }

  /** Rule: a list_changed the filter asks for is sent, unless the same one was sent within SAME_CHANGE_MS. Why: each child of the server reports the same change, and a listener wants it once. */
  listChanged(wire: WireMessage): void {
    const method = (wire.message as { method: string }).method;
    const key = FILTER_OF[method];
    if (!key || !this.filter[key]) return;
    const now = performance.now();
    if (now - (this.lastSent.get(method) ?? -Infinity) < SAME_CHANGE_MS) return;
    this.lastSent.set(method, now);
    this.send(wire.message);
  }

  close(): void {
    if (this.over) return;
    this.over = true;
    this.quota.release(this);
    this.sink.end();
    let id = 0;
    for (const uri of this.filter.resourceSubscriptions ?? []) {
      this.upstream?.send(ownMessage({ jsonrpc: '2.0', id: `unsubscribe-${++id}`, method: 'resources/unsubscribe', params: { uri } }));
    }
    void this.upstream?.close(this.killGraceMs);
  }

  /** Rule: every notification carries the listen request's id as its subscription id; a stream its client does not read is cut past maxStreamBytes. */
  private send(message: JSONRPCMessage): void {
    if (this.over) return;
    if (this.sink.backlog > this.maxStreamBytes) {
      this.sink.cut();
      return this.close();
    }
    const { params = {} } = message as { params?: Record<string, unknown> };
    const meta = { ...(params._meta as Record<string, unknown> | undefined), [META.subscriptionId]: this.requestId };
    this.sink.write(undefined, JSON.stringify({ ...message, params: { ...params, _meta: meta } }));
  }
}
