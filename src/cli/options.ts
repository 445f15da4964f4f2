/**
 * What a user can say to the bridge: the command-line options (yargs), and the MCP_BRIDGE_* variables that
 * stand for them. Their values are checked by parse-args.ts.
 */
import yargs from 'yargs';
import { ConfigError, DEFAULTS, type LogLevel } from '../config.js';

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
  modern: {
    coerce: lastBoolean, type: 'boolean', default: true, group: 'Sessions:',
    describe: 'Serve 2026-07-28 (sessionless) clients too, translating for a 2025-era server; --no-modern: they get the answer that makes them fall back to initialize',
  },
  'modern-children': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.modernChildren, group: 'Sessions:',
    describe: "With --modern: children at most per server for 2026-07-28 requests (each one client's, for one set of its capabilities; 4 per client at most)",
  },
  'child-era': {
    coerce: lastString, type: 'string', choices: ['auto', 'legacy', 'modern'], default: 'auto', group: 'Child process:',
    describe: "The protocol era the server's command speaks: auto probes its first child with server/discover; legacy (2025, initialize) or modern (2026-07-28 only) skip the probe",
  },
  'input-timeout': {
    coerce: lastValue, requiresArg: true, default: DEFAULTS.inputTimeoutSeconds, group: 'Sessions:',
    describe: "With --modern: seconds a 2026-07-28 call waits for its client's answers (sampling, elicitation, roots) before it is cancelled",
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

export function buildParser(argv: string[]) {
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

/** MCP_BRIDGE_<NAME> for an option `name`. */
const envNameOf = (option: string) => `MCP_BRIDGE_${option.toUpperCase().replaceAll('-', '_')}`;

/**
 * The options the environment sets, as arguments to put before the command line's (whose values win), and
 * the MCP_BRIDGE_* variables that name no option. Why not yargs's own .env(): it reads the whole process
 * environment, so a stray variable stopped the bridge with an "unknown argument" nobody typed.
 */
export function environmentArguments(env: NodeJS.ProcessEnv, given: Set<string>): { args: string[]; unknown: string[] } {
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
export function optionsGiven(argv: string[]): Set<string> {
  const given = new Set<string>();
  for (const word of argv) {
    const match = /^--(?:no-)?([a-z0-9-]+)(?:=|$)/.exec(word);
    if (match) given.add(match[1]);
  }
  return given;
}
