/** The one typed configuration object: built by the CLI, passed down, never read from process.env elsewhere. */

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'json' | 'pretty';

export interface ChildCommand {
  command: string;
  args: string[];
  /** Human-readable origin of the command, for logs ("command line", "mcp-nixos on PATH", …). */
  source: string;
}

export interface Config {
  host: string;
  port: number;
  /** Endpoint path without a trailing slash (served with and without one). */
  path: string;
  /** Origins allowed besides the built-in ones (normalised `scheme://host[:port]`, lowercase). */
  allowedOrigins: string[];
  /** Host names (no port, lowercase) allowed in the Host header besides the loopback names. */
  allowedHosts: string[];
  /** File of bearer tokens, one per line; `undefined`: no authentication. */
  authTokenFile: string | undefined;
  /** Peers (CIDR ranges) whose CF-Connecting-IP / X-Forwarded-For headers name the client. */
  trustProxy: string[];
  limits: Limits;
  idleTimeoutMs: number;
  /** Children kept started ahead of need (0: spawn on initialize). */
  pool: number;
  /** One child for every session instead of one each. */
  shared: boolean;
  keepAliveMs: number;
  killGraceMs: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Where Prometheus metrics are served; `undefined`: nowhere. */
  metricsListen: { host: string; port: number } | undefined;
  child: ChildCommand;
  /** The child's complete environment. */
  childEnv: Record<string, string>;
  childCwd: string | undefined;
  /** Resumable SSE streams (Last-Event-ID); `undefined` turns resumability off. */
  resume: ResumeConfig | undefined;
  /** systemd's notification socket (NOTIFY_SOCKET) when run as a Type=notify service. */
  notifySocket: string | undefined;
  /** systemd's watchdog interval (WATCHDOG_USEC) in ms when it watches this process. */
  watchdogMs: number | undefined;
}

/** Everything that bounds what one client, one session or the whole bridge may use. */
export interface Limits {
  maxSessions: number;
  maxSessionsPerClient: number;
  maxInflightPerSession: number;
  /** New sessions per client per minute; 0: unlimited. */
  sessionsPerMinute: number;
  /** HTTP requests per client per minute; 0: unlimited. */
  requestsPerMinute: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  /** Longest line the child may write on stdout before its session is ended. */
  maxChildLineBytes: number;
  /** Messages kept per session while no stream can take them (before the GET stream opens). */
  pendingMessages: number;
  /** Time a client has to send its request headers. */
  headersTimeoutMs: number;
  /** Time a client has to send its whole request (headers and body). */
  requestReceiveTimeoutMs: number;
  maxHeaderBytes: number;
}

export interface ResumeConfig {
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  /** Bytes of stored events across all sessions. */
  maxBytesTotal: number;
  /** The `retry` the client is told to wait before reconnecting, in ms. */
  retryMs: number;
}

export const DEFAULT_ALLOWED_ORIGINS = ['https://claude.ai', 'https://claude.com'];

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  path: '/mcp',
  idleTimeoutSeconds: 600,
  maxSessions: 32,
  maxSessionsPerClient: 8,
  maxInflightPerSession: 32,
  sessionsPerMinute: 30,
  requestsPerMinute: 1200,
  requestTimeoutSeconds: 300,
  maxBodyBytes: 4 * 1024 * 1024,
  maxChildLineBytes: 16 * 1024 * 1024,
  pendingMessages: 1000,
  headersTimeoutSeconds: 10,
  requestReceiveTimeoutSeconds: 30,
  maxHeaderBytes: 16 * 1024,
  keepAliveMs: 15_000,
  killGraceSeconds: 5,
  shutdownTimeoutSeconds: 10,
  logLevel: 'info' as LogLevel,
  resume: { maxEventsPerSession: 1000, maxBytesPerSession: 8 * 1024 * 1024, maxBytesTotal: 128 * 1024 * 1024, retryMs: 1000 },
};

/** A user error in options or environment: the CLI prints the message and exits 2. */
export class ConfigError extends Error {}
