/** Prometheus metrics (prom-client, the standard Node client), served on their own listener. */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ExitStatus } from './child/child-process.js';

/** Rejections the bridge makes itself, by what was wrong. */
export type RejectionReason = 'origin' | 'host' | 'auth' | 'rate' | 'cap' | 'inflight' | 'busy' | 'size' | 'session' | 'invalid' | 'timeout';

/**
 * The bounds on what the bridge holds, by name: a stream's unsent bytes (the child is paused), the input
 * waiting for a child's stdin (POSTs refused), a session's kept events and all sessions' together (the
 * least needed are evicted), messages waiting for a GET stream (the oldest dropped), a child's stdout line
 * (the session ends), a stream or stdin left stuck past --stall-timeout (the session ends).
 */
export type Limit = 'stream-buffer' | 'input-buffer' | 'session-buffer' | 'total-buffer' | 'pending' | 'line' | 'stall';

/** JSON-RPC methods kept as label values; anything else is "other", so clients cannot grow the label set. */
const KNOWN_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/templates/list', 'resources/read',
  'resources/subscribe', 'resources/unsubscribe', 'prompts/list', 'prompts/get', 'completion/complete',
  'logging/setLevel', 'tasks/get', 'tasks/list', 'tasks/result', 'tasks/cancel',
]);

export class Metrics {
  readonly registry = new Registry();
  readonly sessionsActive = new Gauge({ name: 'mcp_bridge_sessions_active', help: 'Sessions open now', labelNames: ['server'], registers: [this.registry] });
  readonly sessionsEnded = new Counter({
    name: 'mcp_bridge_sessions_ended_total', help: 'Sessions ended, by reason', labelNames: ['server', 'reason'], registers: [this.registry],
  });
  readonly childrenSpawned = new Counter({
    name: 'mcp_bridge_children_spawned_total', help: 'Child processes started', labelNames: ['server'], registers: [this.registry],
  });
  readonly childrenExited = new Counter({
    name: 'mcp_bridge_children_exited_total', help: 'Child processes ended, by exit code or signal', labelNames: ['server', 'status'], registers: [this.registry],
  });
  readonly spawnToInitialized = new Histogram({
    name: 'mcp_bridge_spawn_to_initialized_seconds', help: "From spawning a child to its answer to initialize", labelNames: ['server'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'mcp_bridge_request_duration_seconds', help: 'From a client request reaching the child to its answer, by JSON-RPC method',
    labelNames: ['server', 'method'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 300], registers: [this.registry],
  });
  private readonly httpResponses = new Counter({
    name: 'mcp_bridge_http_responses_total', help: 'HTTP responses, by status', labelNames: ['status'], registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'mcp_bridge_rejections_total', help: 'Requests the bridge refused, by reason', labelNames: ['server', 'reason'], registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'mcp_bridge_messages_total', help: 'JSON-RPC messages relayed, by direction', labelNames: ['server', 'direction'], registers: [this.registry],
  });
  readonly limitHits = new Counter({
    name: 'mcp_bridge_limit_hits_total', help: 'Times a bound on held bytes was reached, by limit', labelNames: ['server', 'limit'], registers: [this.registry],
  });
  private readBuffered: () => number = () => 0;
  private readonly bufferedBytes: Gauge = new Gauge({
    name: 'mcp_bridge_buffered_bytes', help: 'Bytes of messages every session keeps for its client (unsent, or kept for a resume)',
    registers: [this.registry], collect: () => this.bufferedBytes.set(this.readBuffered()),
  });
  readonly bytes = new Counter({
    name: 'mcp_bridge_message_bytes_total', help: 'Bytes of JSON-RPC relayed over stdio, by direction', labelNames: ['server', 'direction'], registers: [this.registry],
  });

  /**
   * Node's process metrics sample the event loop every 10 ms: only worth it when someone reads them.
   * `node` (--node-id) labels every series, so that the nodes behind one balancer can be told apart.
   */
  constructor({ processMetrics, node }: { processMetrics: boolean; node?: string }) {
    if (node !== undefined) this.registry.setDefaultLabels({ node });
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mcp_bridge_' });
  }

  /** What one server's sessions, children and endpoint count, under its name. */
  forServer(server: string): ServerMetrics {
    return new ServerMetrics(this, server);
  }

  httpResponse(status: number): void {
    this.httpResponses.inc({ status: String(status) });
  }

  /** The buffered-bytes gauge reads `read()` whenever metrics are collected. */
  watchBuffered(read: () => number): void {
    this.readBuffered = read;
  }
}

/** One server's side of the metrics: every series it counts carries its name as the `server` label. */
export class ServerMetrics {
  constructor(
    private readonly metrics: Metrics,
    private readonly server: string,
  ) {}

  /** Makes the server's main series exist from the start, at 0: a server nobody has used yet shows as such. */
  declare(): void {
    this.metrics.sessionsActive.inc({ server: this.server }, 0);
    this.metrics.childrenSpawned.inc({ server: this.server }, 0);
  }

  sessionStarted(): void {
    this.metrics.sessionsActive.inc({ server: this.server });
  }

  sessionEnded(reason: string): void {
    this.metrics.sessionsActive.dec({ server: this.server });
    this.metrics.sessionsEnded.inc({ server: this.server, reason });
  }

  childSpawned(): void {
    this.metrics.childrenSpawned.inc({ server: this.server });
  }

  childExited(status: ExitStatus): void {
    this.metrics.childrenExited.inc({ server: this.server, status: status.signal ?? `exit_${status.code}` });
  }

  initialized(seconds: number): void {
    this.metrics.spawnToInitialized.observe({ server: this.server }, seconds);
  }

  requestDone(method: string, seconds: number): void {
    this.metrics.requestDuration.observe({ server: this.server, method: KNOWN_METHODS.has(method) ? method : 'other' }, seconds);
  }

  limitHit(limit: Limit): void {
    this.metrics.limitHits.inc({ server: this.server, limit });
  }

  rejected(reason: RejectionReason): void {
    this.metrics.rejections.inc({ server: this.server, reason });
  }

  relayed(direction: 'to_child' | 'to_client', count: number, bytes: number): void {
    if (count > 0) this.metrics.messages.inc({ server: this.server, direction }, count);
    if (bytes > 0) this.metrics.bytes.inc({ server: this.server, direction }, bytes);
  }
}

/** Serves GET /metrics on its own address, apart from the MCP endpoint (which may be public). */
export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}
