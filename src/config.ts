/** The one typed configuration object: built by the CLI, passed down, never read from process.env elsewhere. */

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ChildCommand {
  command: string;
  args: string[];
  /** Human-readable origin of the command, for logs ("argv", "mcp-nixos on PATH", …). */
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
  idleTimeoutMs: number;
  maxSessions: number;
  maxBodyBytes: number;
  /** Longest line the child may write on stdout before its session is ended. */
  maxChildLineBytes: number;
  /** Messages kept per session while no stream can take them (before the GET stream opens). */
  pendingMessageLimit: number;
  keepAliveMs: number;
  killGraceMs: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  child: ChildCommand;
  /** The child's complete environment. */
  childEnv: Record<string, string>;
  childCwd: string | undefined;
  /** Resumable SSE streams (Last-Event-ID); `undefined` turns resumability off. */
  resume: ResumeConfig | undefined;
  /** systemd's notification socket (NOTIFY_SOCKET) when run as a Type=notify service. */
  notifySocket: string | undefined;
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
  maxBodyBytes: 4 * 1024 * 1024,
  maxChildLineBytes: 16 * 1024 * 1024,
  pendingMessageLimit: 1000,
  keepAliveMs: 15_000,
  killGraceSeconds: 5,
  shutdownTimeoutSeconds: 10,
  logLevel: 'info' as LogLevel,
  resume: { maxEventsPerSession: 1000, maxBytesPerSession: 8 * 1024 * 1024, maxBytesTotal: 128 * 1024 * 1024, retryMs: 1000 },
};

/** A user error in options or environment: the CLI prints the message and exits 2. */
export class ConfigError extends Error {}
