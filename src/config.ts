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
  /** --path without a trailing slash: where the only server is served, and what --public-url names. */
  path: string;
  /** The servers, each with its own child, paths and limits: one (`default`, at `path`) without --config. */
  servers: ServerConfig[];
  /** With --config, the path of GET /servers (`<path-prefix>/servers`); `undefined`: the one server of the command line. */
  serverList: string | undefined;
  /** Origins allowed besides the built-in ones (normalised `scheme://host[:port]`, lowercase). */
  allowedOrigins: string[];
  /** Host names (no port, lowercase) allowed in the Host header besides the loopback names. */
  allowedHosts: string[];
  /** The built-in single-owner OAuth authorization server; `undefined`: off. */
  oauth: OAuthConfig | undefined;
  /** Peers (CIDR ranges) that may name the client in `clientIpHeader`. */
  trustProxy: string[];
  /** The header (lowercase) a trusted proxy names the client in; X-Forwarded-For is read from the right. */
  clientIpHeader: string;
  /** IPv6 clients share per-client limits per network of this prefix length. */
  ipv6Prefix: number;
  limits: Limits;
  /** This bridge as one node of several behind a load balancer. */
  cluster: ClusterConfig;
  keepAliveMs: number;
  killGraceMs: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Where Prometheus metrics are served; `undefined`: nowhere. */
  metricsListen: { host: string; port: number } | undefined;
  /** Resumable SSE streams (Last-Event-ID); `undefined` turns resumability off. */
  resume: ResumeConfig | undefined;
  /** 2026-07-28 clients served (era translation in front of 2025-era children); `undefined`: off, they fall back to initialize. */
  modern: ModernConfig | undefined;
  /** SSE polling (SEP-1699): a primed stream quiet this long is closed, and the client resumes it with GET; `undefined`: never. */
  ssePollMs: number | undefined;
  /** systemd's notification socket (NOTIFY_SOCKET) when run as a Type=notify service. */
  notifySocket: string | undefined;
  /** systemd's watchdog interval (WATCHDOG_USEC) in ms when it watches this process. */
  watchdogMs: number | undefined;
}

/** One MCP server the bridge serves: its command, where it is served, and what is its own. */
export interface ServerConfig {
  /** `default` for the command line's server; else its name in the --config file ([a-z0-9-]+). */
  name: string;
  /** The endpoint paths it is served at, without a trailing slash. */
  paths: string[];
  child: ChildCommand;
  /** The child's complete environment. */
  childEnv: Record<string, string>;
  childCwd: string | undefined;
  /** Children kept started ahead of need (0: spawn on initialize). */
  pool: number;
  /** One child for every session instead of one each. */
  shared: boolean;
  /** The era its command speaks: probed on its first child (`auto`), or as the user says. */
  childEra: 'auto' | 'legacy' | 'modern';
  /** Its own session cap, within limits.maxSessions for all servers together. */
  maxSessions: number;
  idleTimeoutMs: number;
  /** File of bearer tokens for this server (--auth-token-file unless its entry names its own); `undefined`: none. */
  authTokenFile: string | undefined;
  /** Tools hidden from its clients; `undefined`: all shown. */
  tools: ToolFilterConfig | undefined;
}

/** Globs (`*`, `?`, `[…]`, `{a,b}`) over tool names; a tool is shown when allowed (or no allow list) and not denied. */
export interface ToolFilterConfig {
  allow: string[] | undefined;
  deny: string[];
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
  /** Failed authentications per client per minute before the client is refused outright; 0: unlimited. */
  authFailuresPerMinute: number;
  requestTimeoutMs: number;
  maxBodyBytes: number;
  /** Longest line the child may write on stdout before its session is ended. */
  maxChildLineBytes: number;
  /** Messages kept per session for the standalone (GET) stream while none is open, and their bytes. */
  pendingMessages: number;
  pendingBytes: number;
  /** Bytes of one SSE stream not yet taken by its client before the child's output is paused. */
  maxStreamBufferBytes: number;
  /** Bytes waiting for a child's stdin before the session's POSTs are refused (503). */
  maxInputBufferBytes: number;
  /** How long a client may leave a full stream unread, or a child its stdin full, before the session ends. */
  stallTimeoutMs: number;
  /** At a session cap, a session with nothing in flight this long may be evicted even with a stream open. */
  evictQuietAfterMs: number;
  /** Events one session keeps for its client (unsent, or sent and kept for a resume), and their bytes. */
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  /** Bytes of kept events across every session. */
  maxBytesTotal: number;
  /** Time a client has to send its request headers. */
  headersTimeoutMs: number;
  /** Time a client has to send its whole request (headers and body). */
  requestReceiveTimeoutMs: number;
  maxHeaderBytes: number;
}

/** Several bridges behind one load balancer: each session lives on the node that made it. */
export interface ClusterConfig {
  /** `[a-z0-9]{1,16}`: every session id this node makes starts with `<nodeId>-`, and every response names it. */
  nodeId: string;
  /** --node-id was given: metrics then carry it as a `node` label (a random one would start new series at each start). */
  nodeIdGiven: boolean;
  /** The other nodes by id (their origin, `http(s)://host:port`): a request for one of their sessions is passed there. */
  peers: Map<string, string>;
  /** The secret the nodes prove themselves to each other with; needed to pass requests on or take them. */
  peerSecretFile: string | undefined;
  /** On SIGTERM, how long to go on serving calls in flight (no new sessions; a session ends once it has none); 0: end at once. */
  drainTimeoutMs: number;
}

export interface OAuthConfig {
  /** The URL --path is reached at, as users type it (no trailing slash): where the issuer's origin comes from. */
  publicUrl: string;
  /** Each served path and its public URL: the resource its tokens are for. */
  resources: Array<{ path: string; url: string }>;
  /** One line, the scrypt hash of the owner's passphrase (`mcp-bridge oauth init`). */
  ownerFile: string;
  /** A base32 TOTP secret, for a second factor; `undefined`: passphrase only. */
  totpFile: string | undefined;
  accessTtlMs: number;
  refreshIdleMs: number;
  refreshMaxMs: number;
  /** Redirect URIs a code may also go to, besides Claude's callbacks and loopback. */
  redirectAllow: string[];
  /** Where clients and token hashes persist. */
  stateDir: string;
}

export interface ModernConfig {
  /** 2025-era children at most per server for 2026-07-28 requests, across clients and capability sets; and per client. */
  maxChildren: number;
  maxChildrenPerClient: number;
  /** Calls waiting for their client's inputResponses, at most per server and per client; how long each waits. */
  maxParked: number;
  maxParkedPerClient: number;
  parkTtlMs: number;
  /** subscriptions/listen streams at most per server and per client. */
  maxListeners: number;
  maxListenersPerClient: number;
}

export interface ResumeConfig {
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
  authFailuresPerMinute: 10,
  clientIpHeader: 'x-forwarded-for',
  ipv6Prefix: 64,
  requestTimeoutSeconds: 300,
  maxBodyBytes: 4 * 1024 * 1024,
  maxChildLineBytes: 16 * 1024 * 1024,
  pendingMessages: 1000,
  pendingBytes: 4 * 1024 * 1024,
  maxStreamBufferBytes: 4 * 1024 * 1024,
  maxInputBufferBytes: 4 * 1024 * 1024,
  stallTimeoutSeconds: 30,
  evictQuietAfterSeconds: 60,
  maxEventsPerSession: 1000,
  maxBytesPerSession: 8 * 1024 * 1024,
  maxBytesTotal: 128 * 1024 * 1024,
  headersTimeoutSeconds: 10,
  requestReceiveTimeoutSeconds: 30,
  maxHeaderBytes: 16 * 1024,
  keepAliveMs: 15_000,
  killGraceSeconds: 5,
  shutdownTimeoutSeconds: 10,
  drainTimeoutSeconds: 0,
  logLevel: 'info' as LogLevel,
  resume: { retryMs: 1000 },
  modernChildren: 16,
  inputTimeoutSeconds: 300,
  modern: { maxChildrenPerClient: 4, maxParked: 64, maxParkedPerClient: 8, maxListeners: 64, maxListenersPerClient: 4 },
  oauthAccessTtlSeconds: 24 * 3600,
  oauthRefreshIdleSeconds: 30 * 24 * 3600,
  oauthRefreshMaxSeconds: 90 * 24 * 3600,
};

/** A user error in options or environment: the CLI prints the message and exits 2. */
export class ConfigError extends Error {}
