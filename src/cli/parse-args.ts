/** The command line and MCP_BRIDGE_* environment variables, turned into one validated Config. */
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { buildChildEnvironment, parseEnvAssignment } from '../child/environment.js';
import { ConfigError, DEFAULTS, type ChildCommand, type Config, type LogFormat, type LogLevel } from '../config.js';
import { isLoopbackHost } from '../http/guards.js';
import { MCP_NIXOS_ENVIRONMENT, resolveDefaultServer } from './default-server.js';

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
const lastNumber = (value: number | number[]): number => last(value);
const lastBoolean = (value: boolean | boolean[]): boolean => last(value);

function buildParser(argv: string[]) {
  return yargs(argv)
    .scriptName('mcp-bridge')
    .usage(
      '$0 [options] [-- <command> [args...]]\n\n' +
        'Serve a stdio MCP server as a Streamable HTTP endpoint, one child process per MCP session.\n' +
        'With no command it serves mcp-nixos. Every option can also be set as MCP_BRIDGE_<NAME>\n' +
        '(e.g. MCP_BRIDGE_PORT=9000, MCP_BRIDGE_ALLOWED_HOST=a.example,b.example).',
    )
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true })
    .env('MCP_BRIDGE')
    .options({
      host: { coerce: lastString, type: 'string', default: DEFAULTS.host, describe: 'Address to listen on', group: 'Listening:' },
      port: { coerce: lastNumber, type: 'number', default: DEFAULTS.port, describe: 'Port to listen on (0 picks a free port)', group: 'Listening:' },
      path: { coerce: lastString, type: 'string', default: DEFAULTS.path, describe: 'Endpoint path (served with and without a trailing slash)', group: 'Listening:' },
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
        coerce: lastNumber, type: 'number', default: DEFAULTS.ipv6Prefix, group: 'Limits:',
        describe: 'IPv6 clients share per-client limits per network of this prefix length',
      },
      'auth-failures-per-minute': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.authFailuresPerMinute, group: 'Security:',
        describe: 'Failed authentications per client address per minute before it is refused outright (429; 0: no limit)',
      },
      'max-body-size': { coerce: lastNumber, type: 'number', default: DEFAULTS.maxBodyBytes, describe: 'Largest request body in bytes (413 above)', group: 'Limits:' },
      'max-sessions-per-client': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.maxSessionsPerClient, group: 'Limits:',
        describe: 'Most concurrent sessions of one client address',
      },
      'max-inflight': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.maxInflightPerSession, group: 'Limits:',
        describe: 'Most requests in flight per session (429 above)',
      },
      'sessions-per-minute': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.sessionsPerMinute, group: 'Limits:',
        describe: 'New sessions per client address per minute (429 above; 0: no limit)',
      },
      'requests-per-minute': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.requestsPerMinute, group: 'Limits:',
        describe: 'HTTP requests per client address per minute (429 above; 0: no limit)',
      },
      'request-timeout': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.requestTimeoutSeconds, group: 'Limits:',
        describe: 'Seconds a request may wait for the server; then it is cancelled and answered with an error',
      },
      'headers-timeout': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.headersTimeoutSeconds, group: 'Limits:',
        describe: 'Seconds a client has to send its request headers',
      },
      'max-header-size': { coerce: lastNumber, type: 'number', default: DEFAULTS.maxHeaderBytes, describe: 'Largest request header block in bytes', group: 'Limits:' },
      'idle-timeout': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.idleTimeoutSeconds, group: 'Sessions:',
        describe: 'Seconds a session may sit idle (nothing in flight, no open stream) before it is ended',
      },
      'max-sessions': { coerce: lastNumber, type: 'number', default: DEFAULTS.maxSessions, describe: 'Most concurrent sessions (one child process each)', group: 'Limits:' },
      'stall-timeout': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.stallTimeoutSeconds, group: 'Limits:',
        describe: 'Seconds a client may leave a full stream unread, or a child its stdin full, before the session is ended',
      },
      'max-session-buffer': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.maxBytesPerSession, group: 'Limits:',
        describe: 'Bytes of messages one session keeps for its client (unsent, or kept for a resume)',
      },
      'max-total-buffer': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.maxBytesTotal, group: 'Limits:',
        describe: 'Bytes of messages all sessions keep together; past it the largest session gives up its oldest',
      },
      'max-line-size': {
        coerce: lastNumber, type: 'number', default: DEFAULTS.maxChildLineBytes, group: 'Limits:',
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
        coerce: lastNumber, type: 'number', default: 0, group: 'Sessions:',
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
        coerce: lastNumber, type: 'number', group: 'Sessions:',
        describe: 'Close a resumable SSE stream that has been quiet this many seconds; the client resumes it (for proxies that cut idle connections)',
      },
      'kill-grace': { coerce: lastNumber, type: 'number', default: DEFAULTS.killGraceSeconds, describe: 'Seconds from SIGTERM to SIGKILL when a child is ended', group: 'Child process:' },
      'log-level': { coerce: lastString, type: 'string', choices: LOG_LEVELS, default: DEFAULTS.logLevel, describe: 'Log verbosity (logs go to stderr)', group: 'Operation:' },
      'log-format': {
        coerce: lastString, type: 'string', choices: ['json', 'pretty'], group: 'Operation:',
        describe: 'JSON lines, or human-readable lines (the default when stderr is a terminal)',
      },
      'metrics-listen': {
        coerce: lastString, type: 'string', group: 'Operation:',
        describe: 'Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464); off by default',
      },
      'shutdown-timeout': { coerce: lastNumber, type: 'number', default: DEFAULTS.shutdownTimeoutSeconds, describe: 'Seconds to wait for children on SIGINT/SIGTERM', group: 'Operation:' },
    })
    .example('$0', 'serve mcp-nixos on http://127.0.0.1:8080/mcp')
    .example('$0 -- npx -y @modelcontextprotocol/server-everything', 'serve another stdio server')
    .example('$0 --port 0 -- python3 server.py', 'pick a free port; the URL is printed on start')
    .example('$0 --allowed-host mcp.example.com -- my-server', 'accept requests for a tunnel hostname')
    .example('$0 --env API_KEY=secret --pass-env HTTPS_PROXY -- my-server', 'give the child what it needs, nothing more')
    .epilogue(
      "The child's environment holds only PATH, HOME, USER, LANG, TERM, TMPDIR and a few more, plus what --env and --pass-env add.",
    )
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((message, error) => {
      throw new ConfigError(message || error?.message || 'invalid arguments');
    });
}

function seconds(name: string, value: number, { allowZero = false } = {}): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of seconds, got ${value}`);
  }
  return Math.round(value * 1000);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`--${name} must be a positive integer, got ${value}`);
  return value;
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/** An HTTP header name, lowercase (as Node gives request headers). */
function headerName(name: string, value: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(value)) throw new ConfigError(`--${name} must be an HTTP header name, got "${value}"`);
  return value.toLowerCase();
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`--${name} must be a non-negative integer, got ${value}`);
  return value;
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
function normalisePath(path: string): string {
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    throw new ConfigError(`--path must start with "/" and hold no spaces, "?" or "#", got "${path}"`);
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

/** Either the user's command, or the default server with the environment it needs. */
function chooseCommand(
  words: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildCommand; defaults: Record<string, string> } {
  const [command, ...args] = words;
  if (command !== undefined) return { child: { command, args, source: 'command line' }, defaults: {} };
  return { child: resolveDefaultServer(env.PATH), defaults: MCP_NIXOS_ENVIRONMENT };
}

export type ParseResult = { kind: 'run'; config: Config } | { kind: 'exit'; output: string };

/** Parses arguments; throws ConfigError for anything the user must fix. */
export async function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ParseResult> {
  let output = '';
  const parser = buildParser(argv);
  const parsed = await parser.parse(argv, {}, (_error, _argv, text) => {
    output = text;
  });
  if (parsed.help || parsed.version) return { kind: 'exit', output };

  const port = parsed.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`--port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  const commandWords = [...parsed._.map(String), ...((parsed['--'] as unknown[] | undefined) ?? []).map(String)];
  const set = Object.fromEntries(
    parsed.env.map((text) => {
      try {
        return parseEnvAssignment(text);
      } catch (error) {
        throw new ConfigError((error as Error).message);
      }
    }),
  );
  const { child, defaults } = chooseCommand(commandWords, env);
  if (parsed.shared && parsed.pool > 0) throw new ConfigError('--pool has no use with --shared, which keeps one child for all sessions');
  const authTokenFile = parsed.authTokenFile === undefined ? undefined : resolve(parsed.authTokenFile);
  if (!isLoopbackHost(parsed.host) && authTokenFile === undefined && !parsed.allowUnauthenticated) {
    throw new ConfigError(
      `--host ${parsed.host} is not a loopback address: set --auth-token-file, or --allow-unauthenticated to serve it without authentication on purpose`,
    );
  }

  const headersTimeoutMs = seconds('headers-timeout', parsed.headersTimeout);

  return {
    kind: 'run',
    config: {
      host: parsed.host,
      port,
      path: normalisePath(parsed.path),
      allowedOrigins: parsed.allowedOrigin.map(normaliseOrigin),
      allowedHosts: parsed.allowedHost.map(normaliseHostName),
      authTokenFile,
      trustProxy: parsed.trustProxy.map(cidr),
      clientIpHeader: headerName('client-ip-header', parsed.clientIpHeader),
      ipv6Prefix: integerIn('ipv6-prefix', parsed.ipv6Prefix, 1, 128),
      limits: {
        maxSessions: positiveInteger('max-sessions', parsed.maxSessions),
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
        maxEventsPerSession: DEFAULTS.maxEventsPerSession,
        maxBytesPerSession: positiveInteger('max-session-buffer', parsed.maxSessionBuffer),
        maxBytesTotal: positiveInteger('max-total-buffer', parsed.maxTotalBuffer),
        headersTimeoutMs,
        // Node wants the whole-request limit at least as long as the headers one.
        requestReceiveTimeoutMs: Math.max(headersTimeoutMs, DEFAULTS.requestReceiveTimeoutSeconds * 1000),
        maxHeaderBytes: positiveInteger('max-header-size', parsed.maxHeaderSize),
      },
      idleTimeoutMs: seconds('idle-timeout', parsed.idleTimeout),
      pool: nonNegativeInteger('pool', parsed.pool),
      shared: parsed.shared,
      keepAliveMs: DEFAULTS.keepAliveMs,
      killGraceMs: seconds('kill-grace', parsed.killGrace, { allowZero: true }),
      shutdownTimeoutMs: seconds('shutdown-timeout', parsed.shutdownTimeout, { allowZero: true }),
      logLevel: parsed.logLevel as LogLevel,
      logFormat: (parsed.logFormat as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json'),
      metricsListen: parsed.metricsListen === undefined ? undefined : listenAddress('metrics-listen', parsed.metricsListen),
      child,
      childEnv: buildChildEnvironment(env, { passEnv: parsed.passEnv, set, defaults }),
      childCwd: parsed.cwd === undefined ? undefined : existingDirectory(parsed.cwd),
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
