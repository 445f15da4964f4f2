/** Start and stop: wire the layers, listen, report to systemd, and drain on SIGINT/SIGTERM. */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChildProcess } from './child/child-process.js';
import { detectContainment } from './child/containment.js';
import { commandIsRunnable } from './child/find-command.js';
import { startOrphanGuard } from './child/orphan-guard.js';
import { SharedChild } from './child/shared-child.js';
import { dedicatedUpstream, type Upstream, type UpstreamEvents } from './child/upstream.js';
import { WarmPool } from './child/warm-pool.js';
import { ConfigError, type Config, type OAuthConfig } from './config.js';
import { createAdmission, type Caller } from './http/admission.js';
import { authentication } from './http/authentication.js';
import { TokenFile } from './http/token-file.js';
import { clientIdentityResolver, type ClientIdentityResolver } from './http/client-address.js';
import { guardPolicy, type GuardPolicy } from './http/guards.js';
import { createMcpEndpoint } from './http/mcp-endpoint.js';
import { ClientRateLimit } from './http/rate-limits.js';
import { createRequestListener } from './http/routes.js';
import { SseClock } from './http/sse-response.js';
import { ThrottledWarnings, type Logger } from './log.js';
import { Metrics, serveMetrics } from './metrics.js';
import { AuthorizationServer } from './oauth/authorization-server.js';
import { OutboundBudget } from './session/outbound-log.js';
import { SessionRegistry, type Reservation } from './session/registry.js';
import { Session } from './session/session.js';
import { createNotifier, startWatchdog } from './systemd-notify.js';
import { VERSION } from './version.js';

export interface RunningBridge {
  url: string;
  metricsUrl: string | undefined;
  /** Re-reads the token file and the OAuth owner file and state (SIGHUP). */
  reloadTokens(): void;
  /** Stops accepting, ends every session, waits for children (bounded by the shutdown timeout). */
  stop(): Promise<void>;
}

function urlOf(address: AddressInfo, path: string): string {
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}${path}`;
}

/** Throws a readable message when the token file cannot be used; the CLI turns it into exit code 2. */
function loadTokens(config: Config, log: Logger): TokenFile | undefined {
  if (config.authTokenFile === undefined) return undefined;
  const tokens = new TokenFile(config.authTokenFile);
  let count: number;
  try {
    count = tokens.load();
  } catch (error) {
    throw new ConfigError(`--auth-token-file: ${(error as Error).message}`);
  }
  log.info({ file: config.authTokenFile, tokens: count }, 'bearer tokens loaded');
  return tokens;
}

/** Throws a readable message when the owner file or the state directory cannot be used (exit code 2). */
function startAuthorizationServer(oauth: OAuthConfig, path: string, identify: ClientIdentityResolver, policy: GuardPolicy, log: Logger): AuthorizationServer {
  try {
    const server = new AuthorizationServer({ config: oauth, localPath: path, identify, policy, log });
    log.info({ publicUrl: oauth.publicUrl, stateDir: oauth.stateDir, totp: oauth.totpFile !== undefined }, 'OAuth authorization server on');
    return server;
  } catch (error) {
    throw new ConfigError(`--oauth: ${(error as Error).message}`);
  }
}

/** After SIGKILL a process group still takes a moment to go; an evicted session's child is awaited this much longer than its grace. */
const EXIT_AFTER_KILL_MS = 2000;

/**
 * How long an idle keep-alive connection stays open: longer than the proxies and clients in front keep
 * theirs (cloudflared 90 s, nginx 60 s, Node's agent 5 s), so that they close it first. With Node's default
 * of 5 s the bridge closed connections a proxy was about to reuse, and that request failed.
 */
const KEEP_ALIVE_TIMEOUT_MS = 100_000;

export async function startBridge(config: Config, log: Logger): Promise<RunningBridge> {
  const tokens = loadTokens(config, log);
  const { limits } = config;
  const metrics = new Metrics({ processMetrics: config.metricsListen !== undefined });
  const warnings = new ThrottledWarnings(log);
  const guard = startOrphanGuard(log);
  const containment = await detectContainment();
  const registry = new SessionRegistry({
    maxSessions: limits.maxSessions,
    maxSessionsPerClient: limits.maxSessionsPerClient,
    evictionWaitMs: config.killGraceMs + EXIT_AFTER_KILL_MS,
    evictQuietAfterMs: limits.evictQuietAfterMs,
  });
  const budget = new OutboundBudget(limits.maxBytesTotal);
  metrics.watchBuffered(() => budget.used);
  const sse = new SseClock({ keepAliveMs: config.keepAliveMs, pollMs: config.ssePollMs, lingerMs: limits.stallTimeoutMs });
  let stopping: Promise<void> | undefined;

  const spawnChild = async () => {
    const child = await ChildProcess.spawn({ command: config.child, env: config.childEnv, cwd: config.childCwd, guard, containment });
    metrics.childSpawned();
    return child;
  };
  const pool = config.pool > 0 ? new WarmPool(config.pool, spawnChild, () => registry.room(), log, config.killGraceMs) : undefined;
  const channelLimits = { maxLineBytes: limits.maxChildLineBytes, maxInputBytes: limits.maxInputBufferBytes, stallTimeoutMs: limits.stallTimeoutMs };
  const shared = config.shared
    ? new SharedChild({ spawn: spawnChild, log, metrics, ...channelLimits, killGraceMs: config.killGraceMs, version: VERSION })
    : undefined;
  /** How a new session reaches its server: a share of the shared child, or a child of its own. */
  const upstreamFor = async (): Promise<(log: () => Logger, events: UpstreamEvents) => Upstream> => {
    if (shared) return (sessionLog, events) => shared.attach(sessionLog, events);
    const child = pool?.take() ?? (await spawnChild());
    return (sessionLog, events) => dedicatedUpstream(child, { log: sessionLog, metrics, ...channelLimits }, events);
  };
  const startSession = async (reservation: Reservation, client: Caller, protocolVersion: string) => {
    const connect = await upstreamFor();
    const session = new Session(connect, {
      id: randomUUID(),
      config,
      log,
      budget,
      metrics,
      clientKey: client.key,
      clientAddress: client.address,
      principal: client.principal,
      protocolVersion,
      hooks: {
        ending: (s) => {
          registry.forget(s);
          // Its child's place is free once the child is gone.
          void s.ended.then(() => pool?.refill());
        },
      },
    });
    reservation.fill(session);
    return session;
  };
  const endpoint = createMcpEndpoint({
    registry,
    maxBodyBytes: limits.maxBodyBytes,
    sessionRate: new ClientRateLimit(limits.sessionsPerMinute),
    startSession,
    resume: config.resume !== undefined,
    sse,
    metrics,
    warnings,
    log,
  });
  const policy = guardPolicy(config);
  const identify = clientIdentityResolver(config);
  const oauth = config.oauth && startAuthorizationServer(config.oauth, config.path, identify, policy, log);
  const admission = createAdmission({
    policy,
    identify,
    auth: authentication(tokens, oauth),
    requestRate: new ClientRateLimit(limits.requestsPerMinute),
    authFailures: new ClientRateLimit(limits.authFailuresPerMinute),
    metrics,
    warnings,
  });
  /** Rule: ready while not shutting down, the command can be run, and a session fits (or one can be evicted). */
  const notReady = () => {
    if (stopping) return 'shutting down';
    if (!commandIsRunnable(config.child.command, config.childEnv.PATH, config.childCwd)) return 'the MCP server command cannot be run';
    if (!registry.hasRoom()) return 'every session is busy';
    return undefined;
  };
  const listener = createRequestListener({ path: config.path, admission, endpoint, notReady, metrics, log, mount: (app) => oauth?.mount(app) });

  const server = createServer(
    {
      // Slow clients (slowloris) lose their connection instead of holding it.
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestReceiveTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: 1000,
    },
    listener,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(config.port, config.host);
  });
  server.on('error', (error) => log.error({ err: error.message }, 'HTTP server error'));
  log.info(
    { containment: containment.kind },
    containment.kind === 'cgroup'
      ? 'each child runs in a cgroup of its own: everything it starts ends with its session'
      : 'no writable cgroup v2: a child is ended by its process group and an environment marker (a daemon that clears its environment can outlive its session)',
  );
  const metricsServer = config.metricsListen && (await serveMetrics(metrics, config.metricsListen.host, config.metricsListen.port));
  pool?.refill();

  return {
    url: urlOf(server.address() as AddressInfo, config.path),
    metricsUrl: metricsServer ? urlOf(metricsServer.address() as AddressInfo, '/metrics') : undefined,
    reloadTokens: () => {
      try {
        if (tokens) log.info({ tokens: tokens.load() }, 'bearer tokens reloaded');
        oauth?.reload();
      } catch (error) {
        log.error({ err: (error as Error).message }, 'could not reload the token file or the OAuth state; keeping the previous ones');
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        server.close();
        metricsServer?.close();
        await pool?.close();
        const clean = await registry.endAll(config.shutdownTimeoutMs);
        await shared?.close();
        if (!clean) log.warn('shutdown timeout reached; killing the remaining children');
        sse.stop();
        server.closeAllConnections();
        metricsServer?.closeAllConnections();
        // Any group still listed is killed by the guard as its pipe closes.
        guard.close();
        oauth?.close();
      })()),
  };
}

/** Listen errors that are the user's to fix, as exit code 2 like a bad option. */
const USER_LISTEN_ERRORS = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES', 'ENOTFOUND', 'EAI_AGAIN']);

function listenError(error: NodeJS.ErrnoException, config: Config): ConfigError | undefined {
  if (!error.code || !USER_LISTEN_ERRORS.has(error.code)) return undefined;
  const where = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is already in use',
    EADDRNOTAVAIL: 'no interface of this machine has that address',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    ENOTFOUND: 'the host name does not resolve',
    EAI_AGAIN: 'the host name does not resolve',
  };
  return new ConfigError(`cannot listen on ${where}: ${why[error.code]}`);
}

/** Runs until SIGINT/SIGTERM; a second signal forces the exit. SIGHUP re-reads the token file. */
export async function runBridge(config: Config, log: Logger): Promise<void> {
  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection (ignored)'));
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, log);
  } catch (error) {
    const userError = error instanceof ConfigError ? error : listenError(error as NodeJS.ErrnoException, config);
    // One line on stderr, not a log record and a line: this is the message the user needs.
    process.stderr.write(`mcp-bridge: ${(userError ?? (error as Error)).message}\n`);
    process.exit(userError ? 2 : 1);
  }
  process.stdout.write(`mcp-bridge listening on ${bridge.url}\n`);
  if (bridge.metricsUrl) process.stdout.write(`mcp-bridge metrics on ${bridge.metricsUrl}\n`);
  log.info({ url: bridge.url, command: [config.child.command, ...config.child.args].join(' ') }, 'listening');
  if (!commandIsRunnable(config.child.command, config.childEnv.PATH, config.childCwd)) {
    log.warn({ command: config.child.command }, 'the MCP server command cannot be run (not found or not executable); every new session will fail until it can');
  }
  const notify = createNotifier(config.notifySocket, log);
  const watchdog = config.watchdogMs === undefined ? undefined : startWatchdog(notify, config.watchdogMs);

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down');
    void Promise.all([notify('STOPPING=1'), bridge.stop()]).then(() => {
      clearInterval(watchdog);
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => bridge.reloadTokens());
  await notify('READY=1', `STATUS=Serving ${bridge.url}`);
}
