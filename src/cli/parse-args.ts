/** The command line and MCP_BRIDGE_* environment variables, turned into one validated Config. */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { buildChildEnvironment, parseEnvAssignment } from '../child/environment.js';
import { ConfigError, DEFAULTS, type ChildCommand, type ClusterConfig, type Config, type LogFormat, type LogLevel, type OAuthConfig, type ServerConfig } from '../config.js';
import { isLoopbackHost } from '../http/guards.js';
import { defaultStateDir } from '../oauth/state.js';
import { MCP_NIXOS_ENVIRONMENT, resolveDefaultServer } from './default-server.js';
import { readServersFile } from './servers-file.js';

const LOG_LEVELS: LogLevel[] = ['error', 'warn', 'info', 'debug'];

/** List options take several values from one environment variable: comma-separated (newline-separated for --env, whose values may hold commas). */
const splitOn = (separator: RegExp) => (values: unknown) =>
  ([] as unknown[])
    .concat(values ?? [])
    .flatMap((value) => String(value).split(separator))
    .map((value) => value.trim())
    .filter((value) => value !== '');

/** A scalar option given twice keeps its last value (yargs would make an array of them). */
const last = <T>(value: T | T[]): T => (Array.isArray(value) ? value[value.length - 1] : value);
const lastString = (value: string | string[]): string => last(value);
/** Numbers are left untyped for yargs, so that a bad one reaches the checks below as the text the user typed. */
const lastValue = (value: unknown): unknown => last(value as unknown[]);
const lastBoolean = (value: boolean | boolean[]): boolean => last(value);

const OPTIONS = {
  host: { coerce: lastString, type: 'string', default: DEFAULTS.host, describe: 'Address to listen on', group: 'Listening:' },
  port: { coerce: lastValue, requiresArg: true, default: DEFAULTS.port, describe: 'Port to listen on (0 picks a free port)', group: 'Listening:' },
  path: { coerce: lastString, type: 'string', default: DEFAULTS.path, describe: 'Endpoint path (served with and without a trailing slash)', group: 'Listening:' },
  config: {
    coerce: lastString, type: 'string', group: 'Several servers:',
    describe: 'Serve the servers of this JSON file ({"mcpServers": {NAME: {command, args, env, cwd, tools, …}}}) at <path-prefix>/servers/NAME/mcp; options are their defaults',
  },
  'path-prefix': {
    coerce: lastString, type: 'string', default: '', group: 'Several servers:',
    describe: 'What comes before /servers/NAME/mcp (and /servers) with --config, e.g. /mcp',
  },
  'allowed-origin': {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Security:',
    describe: 'Also allow this Origin (repeatable); https://claude.ai and https://claude.com are always allowed',
  },
  'allowed-host': {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Security:',
    describe: 'Also allow this Host name, e.g. a tunnel hostname (repeatable)',
  },
  'auth-token-file': {
    coerce: lastString, type: 'string', group: 'Security:',
    describe: 'Require "Authorization: Bearer <token>" with a token from this file (one per line; re-read on SIGHUP)',
  },
  oauth: {
    coerce: lastBoolean, type: 'boolean', default: false, group: 'Private access (OAuth):',
    describe: 'Turn on the built-in single-owner OAuth authorization server, for claude.ai and other OAuth clients (needs --public-url and --oauth-owner-file)',
  },
  'public-url': {
    coerce: lastString, type: 'string', group: 'Private access (OAuth):',
    describe: 'The endpoint URL exactly as users type it, e.g. https://mcp.example.org/mcp (plain http only for loopback)',
  },
  'oauth-owner-file': {
    coerce: lastString, type: 'string', group: 'Private access (OAuth):',
    describe: "The owner's passphrase hash, made by `mcp-bridge oauth init FILE`",
  },
  'oauth-totp-file': {
    coerce: lastString, type: 'string', group: 'Private access (OAuth):',
    describe: 'A TOTP secret (base32) for a second factor at login, made by `mcp-bridge oauth init FILE --totp TOTPFILE`',
  },
  'oauth-access-ttl': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.oauthAccessTtlSeconds, group: 'Private access (OAuth):',
    describe: 'Seconds an access token is valid (refresh tokens rotate, and last 30 days unused, 90 days at most)',
  },
  'oauth-redirect-allow': {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Private access (OAuth):',
    describe: "Also let codes go to this redirect URI (repeatable); Claude's callbacks and loopback are always allowed",
  },
  'state-dir': {
    coerce: lastString, type: 'string', group: 'Private access (OAuth):',
    describe: 'Where OAuth clients and token hashes persist (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/mcp-bridge)',
  },
  'allow-unauthenticated': {
    coerce: lastBoolean, type: 'boolean', default: false, group: 'Security:',
    describe: 'Allow a non-loopback --host without --auth-token-file',
  },
  'trust-proxy': {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Security:',
    describe: 'Peers in this CIDR range (repeatable) may name the client in --client-ip-header',
  },
  'client-ip-header': {
    coerce: lastString, type: 'string', default: DEFAULTS.clientIpHeader, group: 'Security:',
    describe: 'The header a --trust-proxy peer names the client in: x-forwarded-for (read from the right), cf-connecting-ip, x-real-ip, …',
  },
  'ipv6-prefix': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.ipv6Prefix, group: 'Limits:',
    describe: 'IPv6 clients share per-client limits per network of this prefix length',
  },
  'auth-failures-per-minute': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.authFailuresPerMinute, group: 'Security:',
    describe: 'Failed authentications per client address per minute before it is refused outright (429; 0: no limit)',
  },
  'max-body-size': { coerce: lastValue, requiresArg: true, default: DEFAULTS.maxBodyBytes, describe: 'Largest request body in bytes (413 above)', group: 'Limits:' },
  'max-sessions-per-client': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.maxSessionsPerClient, group: 'Limits:',
    describe: 'Most concurrent sessions of one client address',
  },
  'max-inflight': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.maxInflightPerSession, group: 'Limits:',
    describe: 'Most requests in flight per session (429 above)',
  },
  'sessions-per-minute': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.sessionsPerMinute, group: 'Limits:',
    describe: 'New sessions per client address per minute (429 above; 0: no limit)',
  },
  'requests-per-minute': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.requestsPerMinute, group: 'Limits:',
    describe: 'HTTP requests per client address per minute (429 above; 0: no limit)',
  },
  'request-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.requestTimeoutSeconds, group: 'Limits:',
    describe: 'Seconds a request may wait for the server; then it is cancelled and answered with an error',
  },
  'headers-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.headersTimeoutSeconds, group: 'Limits:',
    describe: 'Seconds a client has to send its request headers',
  },
  'max-header-size': { coerce: lastValue, requiresArg: true, default: DEFAULTS.maxHeaderBytes, describe: 'Largest request header block in bytes', group: 'Limits:' },
  'idle-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.idleTimeoutSeconds, group: 'Sessions:',
    describe: 'Seconds a session may sit idle (nothing in flight, no open stream) before it is ended',
  },
  'evict-quiet-after': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.evictQuietAfterSeconds, group: 'Sessions:',
    describe: 'At --max-sessions, a session with nothing in flight this many seconds may be evicted even with a stream open',
  },
  'max-sessions': { coerce: lastValue, requiresArg: true, default: DEFAULTS.maxSessions, describe: 'Most concurrent sessions (one child process each)', group: 'Limits:' },
  'stall-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.stallTimeoutSeconds, group: 'Limits:',
    describe: 'Seconds a client may leave a full stream unread, or a child its stdin full, before the session is ended',
  },
  'max-session-buffer': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.maxBytesPerSession, group: 'Limits:',
    describe: 'Bytes of messages one session keeps for its client (unsent, or kept for a resume)',
  },
  'max-total-buffer': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.maxBytesTotal, group: 'Limits:',
    describe: 'Bytes of messages all sessions keep together; past it the largest session gives up its oldest',
  },
  'max-line-size': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.maxChildLineBytes, group: 'Limits:',
    describe: 'Longest stdout line in bytes a child may write before its session is ended',
  },
  env: {
    type: 'string', array: true, default: [], coerce: splitOn(/\n/), group: 'Child process:',
    describe: "Set KEY=VALUE in the child's environment (repeatable)",
  },
  'pass-env': {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Child process:',
    describe: "Pass NAME from the bridge's environment to the child (repeatable; PREFIX* and '*' allowed)",
  },
  cwd: { coerce: lastString, type: 'string', describe: "The child's working directory", group: 'Child process:' },
  pool: {
    coerce: lastValue, requiresArg: true, default: 0, group: 'Sessions:',
    describe: 'Keep this many children started ahead of need, so a new session does not wait for a spawn (they count toward --max-sessions)',
  },
  shared: {
    coerce: lastBoolean, type: 'boolean', default: false, group: 'Sessions:',
    describe: 'One child for every session, for servers that keep no per-client state (see the README for what it cannot do)',
  },
  resume: {
    coerce: lastBoolean, type: 'boolean', default: true, group: 'Sessions:',
    describe: 'Let clients resume dropped SSE streams with Last-Event-ID (events kept in memory, bounded); --no-resume turns it off',
  },
  'sse-poll': {
    coerce: lastValue, requiresArg: true, group: 'Sessions:',
    describe: 'Close a resumable SSE stream that has been quiet this many seconds; the client resumes it (for proxies that cut idle connections)',
  },
  'kill-grace': { coerce: lastValue, requiresArg: true, default: DEFAULTS.killGraceSeconds, describe: 'Seconds from SIGTERM to SIGKILL when a child is ended', group: 'Child process:' },
  'log-level': { coerce: lastString, type: 'string', choices: LOG_LEVELS, default: DEFAULTS.logLevel, describe: 'Log verbosity (logs go to stderr)', group: 'Operation:' },
  'log-format': {
    coerce: lastString, type: 'string', choices: ['json', 'pretty'], group: 'Operation:',
    describe: 'JSON lines, or human-readable lines (the default when stderr is a terminal)',
  },
  'metrics-listen': {
    coerce: lastString, type: 'string', group: 'Operation:',
    describe: 'Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464); off by default',
  },
  'node-id': {
    coerce: lastString, type: 'string', group: 'Several nodes:',
    describe: 'This node\'s id ([a-z0-9]{1,16}; default: random): session ids start with it, and every response says it in X-Mcp-Bridge-Node',
  },
  peer: {
    type: 'string', array: true, default: [], coerce: splitOn(/,/), group: 'Several nodes:',
    describe: 'Another node as NODE=URL (repeatable): requests for its sessions are passed to it (needs --peer-secret-file)',
  },
  'peer-secret-file': {
    coerce: lastString, type: 'string', group: 'Several nodes:',
    describe: 'A secret shared by the nodes (at least 32 characters), with which they pass requests to each other',
  },
  'drain-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.drainTimeoutSeconds, group: 'Several nodes:',
    describe: 'On SIGTERM, seconds to go on serving calls in flight, taking no new sessions, before ending every session',
  },
  'shutdown-timeout': { coerce: lastValue, requiresArg: true, default: DEFAULTS.shutdownTimeoutSeconds, describe: 'Seconds to wait for children on SIGINT/SIGTERM', group: 'Operation:' },
} as const;

function buildParser(argv: string[]) {
  return yargs(argv)
    .scriptName('mcp-bridge')
    .usage(
      '$0 [options] [-- <command> [args...]]\n\n' +
        'Serve a stdio MCP server as a Streamable HTTP endpoint, one child process per MCP session.\n' +
        'The server\'s command and its arguments go after --; with none it serves mcp-nixos. Every option\n' +
        'can also be set as MCP_BRIDGE_<NAME> (e.g. MCP_BRIDGE_PORT=9000, MCP_BRIDGE_ALLOWED_HOST=a.example,b.example).',
    )
    .parserConfiguration({ 'unknown-options-as-args': false })
    .options(OPTIONS)
    .example('$0', 'serve mcp-nixos on http://127.0.0.1:8080/mcp')
    .example('$0 -- npx -y @modelcontextprotocol/server-everything', 'serve another stdio server')
    .example('$0 --port 0 -- python3 server.py', 'pick a free port; the URL is printed on start')
    .example('$0 --allowed-host mcp.example.com -- my-server', 'accept requests for a tunnel hostname')
    .example('$0 --env API_KEY=secret --pass-env HTTPS_PROXY -- my-server', 'give the child what it needs, nothing more')
    .epilogue(
      "The child's environment holds only PATH, HOME, USER, LANG, TERM, TMPDIR and a few more, plus what --env and --pass-env add.",
    )
    .strictOptions()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, error) => {
      // yargs spreads some messages over lines ("Invalid values:\n  Argument: …"); the CLI prints one.
      throw new ConfigError((message || error?.message || 'invalid arguments').split('\n').map((line) => line.trim()).filter(Boolean).join(' '));
    });
}

/** A number option's value: yargs leaves text that is not a number as it came, so the message can quote it. */
function numberOf(name: string, value: unknown): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(number)) throw new ConfigError(`--${name} must be a number, got "${String(value)}"`);
  return number;
}

function seconds(name: string, value: unknown, { allowZero = false } = {}): number {
  const number = numberOf(name, value);
  if (number < 0 || (!allowZero && number === 0)) {
    throw new ConfigError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got ${number}`);
  }
  return Math.round(number * 1000);
}

function integerIn(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const number = numberOf(name, value);
  if (!Number.isInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : 'a positive integer') : `an integer from ${min} to ${max}`;
    throw new ConfigError(`--${name} must be ${range}, got ${number}`);
  }
  return number;
}

const positiveInteger = (name: string, value: unknown) => integerIn(name, value, 1);
const nonNegativeInteger = (name: string, value: unknown) => integerIn(name, value, 0);

/** An HTTP header name, lowercase (as Node gives request headers). */
function headerName(name: string, value: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(value)) throw new ConfigError(`--${name} must be an HTTP header name, got "${value}"`);
  return value.toLowerCase();
}

/** The listen address as Node wants it: an IPv6 address without the brackets of its URL form. */
function listenHost(host: string): string {
  return /^\[[0-9a-fA-F:.]+\]$/.test(host) ? host.slice(1, -1) : host;
}

/** `HOST:PORT` (IPv6 in brackets) for the metrics listener. */
function listenAddress(name: string, text: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 0 || port > 65535) throw new ConfigError(`--${name} must be HOST:PORT, got "${text}"`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

function cidr(text: string): string {
  const [address, bits, extra] = text.trim().split('/');
  const family = isIP(address);
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
  if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    throw new ConfigError(`--trust-proxy must be an address or CIDR range like 10.0.0.0/8, got "${text}"`);
  }
  return `${address}/${prefix}`;
}

/** Path as served: leading slash, no trailing slash (the root stays "/"). */
function normalisePath(path: string, option = 'path'): string {
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    throw new ConfigError(`--${option} must start with "/" and hold no spaces, "?" or "#", got "${path}"`);
  }
  return path.length > 1 ? path.replace(/\/+$/, '') || '/' : path;
}

/** Origins compare as `scheme://host[:port]`, lowercase, the way browsers send them. */
export function normaliseOrigin(origin: string): string {
  try {
    const url = new URL(origin);
    if (url.origin === 'null') throw new Error('opaque');
    return url.origin.toLowerCase();
  } catch {
    throw new ConfigError(`--allowed-origin must be an origin like https://example.com, got "${origin}"`);
  }
}

export function normaliseHostName(host: string): string {
  const name = host.trim().toLowerCase();
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(name)) {
    throw new ConfigError(`--allowed-host must be a host name without port or scheme, got "${host}"`);
  }
  return name;
}

function existingDirectory(path: string): string {
  const absolute = resolve(path);
  if (!statSync(absolute, { throwIfNoEntry: false })?.isDirectory()) {
    throw new ConfigError(`--cwd must be an existing directory, got "${path}"`);
  }
  return absolute;
}

/** The endpoint's public URL: https, or http for a loopback host; no credentials, query or fragment; no trailing slash. */
export function publicUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--public-url must be a URL like https://mcp.example.org/mcp, got "${text}"`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(`--public-url must be https (plain http only for a loopback host), got "${text}"`);
  }
  if (url.username || url.password || url.search || url.hash) throw new ConfigError(`--public-url must have no credentials, query or fragment, got "${text}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The public URL of each served path: --public-url for --path, and for the others what follows from it
 * (--public-url must then end with --path: https://mcp.example.org/mcp gives https://mcp.example.org/servers/NAME/mcp).
 */
function resourcesOf(publicUrl: string, path: string, servers: ServerConfig[]): Array<{ path: string; url: string }> {
  const paths = servers.flatMap((server) => server.paths);
  const suffix = path === '/' ? '' : path;
  if (paths.some((served) => served !== path) && !publicUrl.endsWith(suffix)) {
    throw new ConfigError(`--public-url must end with --path (${path}) when servers are served at other paths, so that their public URLs follow from it, got "${publicUrl}"`);
  }
  const base = publicUrl.slice(0, publicUrl.length - suffix.length);
  return paths.map((served) => ({ path: served, url: served === path ? publicUrl : `${base}${served}` }));
}

function oauthConfig(
  parsed: { publicUrl?: string; oauthOwnerFile?: string; oauthTotpFile?: string; oauthAccessTtl: unknown; oauthRedirectAllow: string[]; stateDir?: string },
  env: NodeJS.ProcessEnv,
  path: string,
  servers: ServerConfig[],
): OAuthConfig {
  if (parsed.publicUrl === undefined) throw new ConfigError('--oauth needs --public-url, the endpoint URL as users type it (e.g. https://mcp.example.org/mcp)');
  if (parsed.oauthOwnerFile === undefined) throw new ConfigError('--oauth needs --oauth-owner-file; make one with `mcp-bridge oauth init FILE`');
  const redirectAllow = parsed.oauthRedirectAllow.map((uri) => {
    try {
      return new URL(uri).href === uri ? uri : new URL(uri).href;
    } catch {
      throw new ConfigError(`--oauth-redirect-allow must be an absolute URI, got "${uri}"`);
    }
  });
  const publicUrl = publicUrlOf(parsed.publicUrl);
  return {
    publicUrl,
    resources: resourcesOf(publicUrl, path, servers),
    ownerFile: resolve(parsed.oauthOwnerFile),
    totpFile: parsed.oauthTotpFile === undefined ? undefined : resolve(parsed.oauthTotpFile),
    accessTtlMs: seconds('oauth-access-ttl', parsed.oauthAccessTtl),
    refreshIdleMs: DEFAULTS.oauthRefreshIdleSeconds * 1000,
    refreshMaxMs: DEFAULTS.oauthRefreshMaxSeconds * 1000,
    redirectAllow,
    stateDir: resolve(parsed.stateDir ?? defaultStateDir(env)),
  };
}

const NODE_ID = /^[a-z0-9]{1,16}$/;

/** `NODE=URL`: a peer's id and origin (http or https, no path: requests keep theirs). */
function peerOf(text: string, self: string): [string, string] {
  const [node, url] = [text.slice(0, text.indexOf('=')), text.slice(text.indexOf('=') + 1)];
  if (!text.includes('=') || !NODE_ID.test(node)) throw new ConfigError(`--peer must be NODE=URL with NODE of [a-z0-9]{1,16}, got "${text}"`);
  if (node === self) throw new ConfigError(`--peer ${node} is this node's own id (--node-id)`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`--peer ${node}: "${url}" is not a URL like http://10.0.0.2:8080`);
  }
  if (!/^https?:$/.test(parsed.protocol) || parsed.pathname !== '/' || parsed.search || parsed.username) {
    throw new ConfigError(`--peer ${node}: the URL must be http(s)://HOST:PORT with no path, got "${url}"`);
  }
  return [node, parsed.origin];
}

function clusterOf(parsed: { nodeId?: string; peer: string[]; peerSecretFile?: string; drainTimeout: unknown }): ClusterConfig {
  if (parsed.nodeId !== undefined && !NODE_ID.test(parsed.nodeId)) {
    throw new ConfigError(`--node-id must be 1 to 16 lowercase letters and digits, got "${parsed.nodeId}"`);
  }
  const nodeId = parsed.nodeId ?? randomNodeId();
  const peers = new Map<string, string>();
  for (const text of parsed.peer) {
    const [node, origin] = peerOf(text, nodeId);
    if (peers.has(node)) throw new ConfigError(`--peer ${node} is given twice`);
    peers.set(node, origin);
  }
  if (peers.size > 0 && parsed.peerSecretFile === undefined) {
    throw new ConfigError('--peer needs --peer-secret-file: the nodes prove themselves to each other with a shared secret');
  }
  return {
    nodeId,
    nodeIdGiven: parsed.nodeId !== undefined,
    peers,
    peerSecretFile: parsed.peerSecretFile === undefined ? undefined : resolve(parsed.peerSecretFile),
    drainTimeoutMs: seconds('drain-timeout', parsed.drainTimeout, { allowZero: true }),
  };
}

/** Six characters of [a-z0-9], chosen at random: unique enough among a handful of nodes. */
function randomNodeId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(6), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Either the user's command, or the default server with the environment it needs. */
function chooseServer(
  words: string[],
  env: NodeJS.ProcessEnv,
  passEnv: string[],
  set: Record<string, string>,
): { child: ChildCommand; childEnv: Record<string, string> } {
  const [command, ...args] = words;
  if (command !== undefined) return { child: { command, args, source: 'command line' }, childEnv: buildChildEnvironment(env, { passEnv, set }) };
  return { child: resolveDefaultServer(env.PATH), childEnv: buildChildEnvironment(env, { passEnv, set, defaults: MCP_NIXOS_ENVIRONMENT }) };
}

/**
 * The servers of a --config file, each at <prefix>/servers/NAME/mcp (the only one also at --path), with the
 * command line's options as the defaults of what the entry does not say. Its env comes over --env's.
 */
function serversOf(
  file: string,
  defaults: ServerConfig,
  prefix: string,
  environment: { env: NodeJS.ProcessEnv; passEnv: string[]; set: Record<string, string> },
): ServerConfig[] {
  const entries = readServersFile(file);
  return entries.map((entry) => {
    const own = `${prefix}/servers/${entry.name}/mcp`;
    const shared = entry.shared ?? defaults.shared;
    return {
      name: entry.name,
      paths: entries.length === 1 && defaults.paths[0] !== own ? [own, defaults.paths[0]] : [own],
      child: { command: entry.command, args: entry.args, source: `${resolve(file)}, server "${entry.name}"` },
      childEnv: buildChildEnvironment(environment.env, { passEnv: environment.passEnv, set: { ...environment.set, ...entry.env } }),
      childCwd: entry.cwd ?? defaults.childCwd,
      shared,
      // --pool is the default only where it can apply: a shared server keeps no pool.
      pool: entry.pool ?? (shared ? 0 : defaults.pool),
      maxSessions: Math.min(entry.maxSessions ?? defaults.maxSessions, defaults.maxSessions),
      idleTimeoutMs: entry.idleTimeoutMs ?? defaults.idleTimeoutMs,
      authTokenFile: entry.authTokenFile ?? defaults.authTokenFile,
      tools: entry.tools,
    };
  });
}

export type ParseResult =
  | { kind: 'run'; config: Config; warnings: string[] }
  | { kind: 'exit'; output: string }
  /** `mcp-bridge oauth …`: the owner's commands, with their own arguments. */
  | { kind: 'oauth'; args: string[] };

/** MCP_BRIDGE_<NAME> for an option `name`. */
const envNameOf = (option: string) => `MCP_BRIDGE_${option.toUpperCase().replaceAll('-', '_')}`;

/**
 * The options the environment sets, as arguments to put before the command line's (whose values win), and
 * the MCP_BRIDGE_* variables that name no option. Why not yargs's own .env(): it reads the whole process
 * environment, so a stray variable stopped the bridge with an "unknown argument" nobody typed.
 */
function environmentArguments(env: NodeJS.ProcessEnv, given: Set<string>): { args: string[]; unknown: string[] } {
  const known = new Map(Object.keys(OPTIONS).map((option) => [envNameOf(option), option]));
  const args: string[] = [];
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('MCP_BRIDGE_') || value === undefined) continue;
    const option = known.get(name);
    if (option === undefined) unknown.push(name);
    else if (!given.has(option)) args.push(`--${option}=${isBoolean(option) ? booleanOf(name, value) : value}`);
  }
  return { args, unknown };
}

const isBoolean = (option: string) => (OPTIONS as Record<string, { type?: string }>)[option].type === 'boolean';

/** A boolean variable's value as yargs reads it: true/false, 1/0, yes/no, on/off. */
function booleanOf(variable: string, value: string): 'true' | 'false' {
  const word = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(word)) return 'true';
  if (['0', 'false', 'no', 'off', ''].includes(word)) return 'false';
  throw new ConfigError(`${variable} must be true or false, got "${value}"`);
}

/** The options the command line names itself. */
function optionsGiven(argv: string[]): Set<string> {
  const given = new Set<string>();
  for (const word of argv) {
    const match = /^--(?:no-)?([a-z0-9-]+)(?:=|$)/.exec(word);
    if (match) given.add(match[1]);
  }
  return given;
}

/** Parses arguments; throws ConfigError for anything the user must fix. */
export async function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ParseResult> {
  if (argv[0] === 'oauth') return { kind: 'oauth', args: argv.slice(1) };
  // The server's command is everything after the first --; yargs sees only what comes before.
  const dashDash = argv.indexOf('--');
  const options = dashDash === -1 ? argv : argv.slice(0, dashDash);
  const commandWords = dashDash === -1 ? [] : argv.slice(dashDash + 1);
  const fromEnvironment = environmentArguments(env, optionsGiven(options));
  const words = [...fromEnvironment.args, ...options];
  let output = '';
  const parser = buildParser(words);
  const parsed = await parser.parse(words, {}, (_error, _argv, text) => {
    output = text;
  });
  if (parsed.help || parsed.version) return { kind: 'exit', output };
  const [first] = parsed._.map(String);
  // yargs takes a bare `help` as its own command and drops it from the positionals.
  if (first === 'help' || (first === undefined && options.includes('help'))) return { kind: 'exit', output: await parser.getHelp() };
  if (first !== undefined) {
    throw new ConfigError(`unknown command "${first}": the MCP server's command goes after --, as in mcp-bridge [options] -- ${first}`);
  }

  const port = integerIn('port', parsed.port, 0, 65535);
  const set = Object.fromEntries(
    parsed.env.map((text) => {
      try {
        return parseEnvAssignment(text);
      } catch (error) {
        throw new ConfigError((error as Error).message);
      }
    }),
  );
  const pool = nonNegativeInteger('pool', parsed.pool);
  if (parsed.shared && pool > 0) throw new ConfigError('--pool has no use with --shared, which keeps one child for all sessions');
  const path = normalisePath(parsed.path);
  const maxSessions = positiveInteger('max-sessions', parsed.maxSessions);
  if (parsed.config !== undefined && commandWords.length > 0) {
    throw new ConfigError('--config names the servers: give no command after -- with it');
  }
  const defaults: ServerConfig = {
    name: 'default',
    paths: [path],
    // With --config there is no command-line server: nothing to look for.
    ...(parsed.config === undefined ? chooseServer(commandWords, env, parsed.passEnv, set) : { child: { command: '', args: [], source: '' }, childEnv: {} }),
    childCwd: parsed.cwd === undefined ? undefined : existingDirectory(parsed.cwd),
    pool,
    shared: parsed.shared,
    maxSessions,
    idleTimeoutMs: seconds('idle-timeout', parsed.idleTimeout),
    authTokenFile: parsed.authTokenFile === undefined ? undefined : resolve(parsed.authTokenFile),
    tools: undefined,
  };
  // What comes before /servers: "" for the root.
  const prefix = normalisePath(parsed.pathPrefix || '/', 'path-prefix').replace(/^\/$/, '');
  const servers = parsed.config === undefined ? [defaults] : serversOf(parsed.config, defaults, prefix, { env, passEnv: parsed.passEnv, set });
  const oauth = parsed.oauth ? oauthConfig(parsed, env, path, servers) : undefined;
  const host = listenHost(parsed.host);
  const open = servers.find((server) => server.authTokenFile === undefined);
  if (!isLoopbackHost(host) && open && oauth === undefined && !parsed.allowUnauthenticated) {
    const which = parsed.config === undefined ? '' : ` (server "${open.name}" has no authTokenFile)`;
    throw new ConfigError(
      `--host ${parsed.host} is not a loopback address: set --auth-token-file or --oauth, or --allow-unauthenticated to serve it without authentication on purpose${which}`,
    );
  }
  const allowedHosts = parsed.allowedHost.map(normaliseHostName);
  // The public name must pass the Host guard: the tunnel in front sends it.
  if (oauth) allowedHosts.push(normaliseHostName(new URL(oauth.publicUrl).hostname));

  const headersTimeoutMs = seconds('headers-timeout', parsed.headersTimeout);

  return {
    kind: 'run',
    warnings: fromEnvironment.unknown.map((name) => `ignoring ${name}: no option of that name (see mcp-bridge --help)`),
    config: {
      host,
      port,
      path,
      servers,
      serverList: parsed.config === undefined ? undefined : `${prefix}/servers`,
      allowedOrigins: parsed.allowedOrigin.map(normaliseOrigin),
      allowedHosts,
      oauth,
      trustProxy: parsed.trustProxy.map(cidr),
      clientIpHeader: headerName('client-ip-header', parsed.clientIpHeader),
      ipv6Prefix: integerIn('ipv6-prefix', parsed.ipv6Prefix, 1, 128),
      cluster: clusterOf(parsed),
      limits: {
        maxSessions,
        maxSessionsPerClient: positiveInteger('max-sessions-per-client', parsed.maxSessionsPerClient),
        maxInflightPerSession: positiveInteger('max-inflight', parsed.maxInflight),
        sessionsPerMinute: nonNegativeInteger('sessions-per-minute', parsed.sessionsPerMinute),
        requestsPerMinute: nonNegativeInteger('requests-per-minute', parsed.requestsPerMinute),
        authFailuresPerMinute: nonNegativeInteger('auth-failures-per-minute', parsed.authFailuresPerMinute),
        requestTimeoutMs: seconds('request-timeout', parsed.requestTimeout),
        maxBodyBytes: positiveInteger('max-body-size', parsed.maxBodySize),
        maxChildLineBytes: positiveInteger('max-line-size', parsed.maxLineSize),
        pendingMessages: DEFAULTS.pendingMessages,
        pendingBytes: DEFAULTS.pendingBytes,
        maxStreamBufferBytes: DEFAULTS.maxStreamBufferBytes,
        maxInputBufferBytes: DEFAULTS.maxInputBufferBytes,
        stallTimeoutMs: seconds('stall-timeout', parsed.stallTimeout),
        evictQuietAfterMs: seconds('evict-quiet-after', parsed.evictQuietAfter, { allowZero: true }),
        maxEventsPerSession: DEFAULTS.maxEventsPerSession,
        maxBytesPerSession: positiveInteger('max-session-buffer', parsed.maxSessionBuffer),
        maxBytesTotal: positiveInteger('max-total-buffer', parsed.maxTotalBuffer),
        headersTimeoutMs,
        // Node wants the whole-request limit at least as long as the headers one.
        requestReceiveTimeoutMs: Math.max(headersTimeoutMs, DEFAULTS.requestReceiveTimeoutSeconds * 1000),
        maxHeaderBytes: positiveInteger('max-header-size', parsed.maxHeaderSize),
      },
      keepAliveMs: DEFAULTS.keepAliveMs,
      killGraceMs: seconds('kill-grace', parsed.killGrace, { allowZero: true }),
      shutdownTimeoutMs: seconds('shutdown-timeout', parsed.shutdownTimeout, { allowZero: true }),
      logLevel: parsed.logLevel as LogLevel,
      logFormat: (parsed.logFormat as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json'),
      metricsListen: parsed.metricsListen === undefined ? undefined : listenAddress('metrics-listen', parsed.metricsListen),
      resume: parsed.resume ? DEFAULTS.resume : undefined,
      ssePollMs: parsed.ssePoll === undefined ? undefined : seconds('sse-poll', parsed.ssePoll),
      notifySocket: env.NOTIFY_SOCKET || undefined,
      watchdogMs: watchdogInterval(env),
    },
  };
}

/** systemd's watchdog applies to this process when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is us. */
function watchdogInterval(env: NodeJS.ProcessEnv): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
  return usec / 1000;
}
