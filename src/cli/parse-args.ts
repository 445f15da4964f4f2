/** The command line and MCP_BRIDGE_* environment variables, turned into one validated Config. */
import { resolve } from 'node:path';
import { buildChildEnvironment, parseEnvAssignment } from '../child/environment.js';
import { ConfigError, DEFAULTS, type ChildCommand, type Config, type LogFormat, type LogLevel, type OAuthConfig, type ServerConfig } from '../config.js';
import { isLoopbackHost } from '../http/guards.js';
import { defaultStateDir } from '../oauth/state.js';
import { clusterOf } from './cluster-options.js';
import { MCP_NIXOS_ENVIRONMENT, resolveDefaultServer } from './default-server.js';
import {
  cidr,
  existingDirectory,
  headerName,
  integerIn,
  listenAddress,
  listenHost,
  nonNegativeInteger,
  normaliseHostName,
  normaliseOrigin,
  normalisePath,
  positiveInteger,
  publicUrlOf,
  seconds,
} from './option-values.js';
import { buildParser, environmentArguments, optionsGiven } from './options.js';
import { readServersFile } from './servers-file.js';

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
      childEra: entry.childEra ?? defaults.childEra,
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
    childEra: parsed.childEra as ServerConfig['childEra'],
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
      modern: parsed.modern
        ? {
            ...DEFAULTS.modern,
            maxChildren: positiveInteger('modern-children', parsed.modernChildren),
            parkTtlMs: seconds('input-timeout', parsed.inputTimeout),
          }
        : undefined,
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
