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
  private readonly sessionsActive = new Gauge({ name: 'mcp_bridge_sessions_active', help: 'Sessions open now', registers: [this.registry] });
  private readonly sessionsEnded = new Counter({
    name: 'mcp_bridge_sessions_ended_total', help: 'Sessions ended, by reason', labelNames: ['reason'], registers: [this.registry],
  });
  private readonly childrenSpawned = new Counter({ name: 'mcp_bridge_children_spawned_total', help: 'Child processes started', registers: [this.registry] });
  private readonly childrenExited = new Counter({
    name: 'mcp_bridge_children_exited_total', help: 'Child processes ended, by exit code or signal', labelNames: ['status'], registers: [this.registry],
  });
  private readonly spawnToInitialized = new Histogram({
    name: 'mcp_bridge_spawn_to_initialized_seconds', help: "From spawning a child to its answer to initialize",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [this.registry],
  });
  private readonly requestDuration = new Histogram({
    name: 'mcp_bridge_request_duration_seconds', help: 'From a client request reaching the child to its answer, by JSON-RPC method',
    labelNames: ['method'], buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 300], registers: [this.registry],
  });
  private readonly httpResponses = new Counter({
    name: 'mcp_bridge_http_responses_total', help: 'HTTP responses, by status', labelNames: ['status'], registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'mcp_bridge_rejections_total', help: 'Requests the bridge refused, by reason', labelNames: ['reason'], registers: [this.registry],
  });
  private readonly messages = new Counter({
    name: 'mcp_bridge_messages_total', help: 'JSON-RPC messages relayed, by direction', labelNames: ['direction'], registers: [this.registry],
  });
  private readonly limitHits = new Counter({
    name: 'mcp_bridge_limit_hits_total', help: 'Times a bound on held bytes was reached, by limit', labelNames: ['limit'], registers: [this.registry],
  });
  private readBuffered: () => number = () => 0;
  private readonly bufferedBytes: Gauge = new Gauge({
    name: 'mcp_bridge_buffered_bytes', help: 'Bytes of messages every session keeps for its client (unsent, or kept for a resume)',
    registers: [this.registry], collect: () => this.bufferedBytes.set(this.readBuffered()),
  });
  private readonly bytes = new Counter({
    name: 'mcp_bridge_message_bytes_total', help: 'Bytes of JSON-RPC relayed over stdio, by direction', labelNames: ['direction'], registers: [this.registry],
  });

  /** Node's process metrics sample the event loop every 10 ms: only worth it when someone reads them. */
  constructor({ processMetrics }: { processMetrics: boolean }) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mcp_bridge_' });
  }

  sessionStarted(): void {
    this.sessionsActive.inc();
  }

  sessionEnded(reason: string): void {
    this.sessionsActive.dec();
    this.sessionsEnded.inc({ reason });
  }

  childSpawned(): void {
    this.childrenSpawned.inc();
  }

  childExited(status: ExitStatus): void {
    this.childrenExited.inc({ status: status.signal ?? `exit_${status.code}` });
  }

  initialized(seconds: number): void {
    this.spawnToInitialized.observe(seconds);
  }

  requestDone(method: string, seconds: number): void {
    this.requestDuration.observe({ method: KNOWN_METHODS.has(method) ? method : 'other' }, seconds);
  }

  httpResponse(status: number): void {
    this.httpResponses.inc({ status: String(status) });
  }

  limitHit(limit: Limit): void {
    this.limitHits.inc({ limit });
  }

  /** The buffered-bytes gauge reads `read()` whenever metrics are collected. */
  watchBuffered(read: () => number): void {
    this.readBuffered = read;
  }

  rejected(reason: RejectionReason): void {
    this.rejections.inc({ reason });
  }

  relayed(direction: 'to_child' | 'to_client', count: number, bytes: number): void {
    if (count > 0) this.messages.inc({ direction }, count);
    if (bytes > 0) this.bytes.inc({ direction }, bytes);
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
