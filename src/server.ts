/** Start and stop: wire the layers, listen, report to systemd, and drain on SIGINT/SIGTERM. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { detectContainment } from './child/containment.js';
import { commandIsRunnable } from './child/find-command.js';
import { startOrphanGuard } from './child/orphan-guard.js';
import { ConfigError, type Config, type OAuthConfig, type ServerConfig } from './config.js';
import { createAdmission } from './http/admission.js';
import { anyOf, authentication, type Authentication } from './http/authentication.js';
import { TokenFile } from './http/token-file.js';
import { clientIdentityResolver, type ClientIdentityResolver } from './http/client-address.js';
import { guardPolicy, type GuardPolicy } from './http/guards.js';
import { createMcpEndpoint } from './http/mcp-endpoint.js';
import { PeerLink } from './http/peer-link.js';
import { ClientRateLimit } from './http/rate-limits.js';
import { createRequestListener, type McpRoute } from './http/routes.js';
import { SseClock } from './http/sse-response.js';
import { ThrottledWarnings, type Logger } from './log.js';
import { Metrics, serveMetrics } from './metrics.js';
import { AuthorizationServer } from './oauth/authorization-server.js';
import { Backend } from './backend.js';
import { OutboundBudget } from './session/outbound-log.js';
import { SessionRegistry } from './session/registry.js';
import { createNotifier, startWatchdog } from './systemd-notify.js';

export interface RunningBridge {
  /** The MCP endpoint's URL; with --config, the server list's. */
  url: string;
  /** Each server's URL (its first path). */
  servers: Array<{ name: string; url: string }>;
  metricsUrl: string | undefined;
  /** Re-reads the token files and the OAuth owner file and state (SIGHUP). */
  reloadTokens(): void;
  /** Stops accepting, ends every session, waits for children (bounded by the shutdown timeout). */
  stop(): Promise<void>;
}

function urlOf(address: AddressInfo, path: string): string {
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}${path}`;
}

/** Each token file the servers name, loaded once; throws a readable message when one cannot be used (exit code 2). */
function loadTokenFiles(servers: ServerConfig[], log: Logger): Map<string, TokenFile> {
  const files = new Map<string, TokenFile>();
  for (const path of new Set(servers.flatMap((server) => server.authTokenFile ?? []))) {
    const tokens = new TokenFile(path);
    let count: number;
    try {
      count = tokens.load();
    } catch (error) {
      throw new ConfigError(`--auth-token-file: ${(error as Error).message}`);
    }
    log.info({ file: path, tokens: count }, 'bearer tokens loaded');
    files.set(path, tokens);
  }
  return files;
}

/** Throws a readable message when the owner file or the state directory cannot be used (exit code 2). */
function startAuthorizationServer(oauth: OAuthConfig, identify: ClientIdentityResolver, policy: GuardPolicy, log: Logger): AuthorizationServer {
  try {
    const server = new AuthorizationServer({ config: oauth, identify, policy, log });
    log.info({ publicUrl: oauth.publicUrl, stateDir: oauth.stateDir, totp: oauth.totpFile !== undefined }, 'OAuth authorization server on');
    return server;
  } catch (error) {
    throw new ConfigError(`--oauth: ${(error as Error).message}`);
  }
}

/** Throws a readable message when the peer secret cannot be used (exit code 2). */
function startPeerLink(config: Config, log: Logger): PeerLink {
  try {
    const peers = new PeerLink(config.cluster, log);
    if (config.cluster.peers.size > 0) log.info({ node: config.cluster.nodeId, peers: Object.fromEntries(config.cluster.peers) }, 'passing requests for other nodes\' sessions to them');
    return peers;
  } catch (error) {
    throw new ConfigError(`--peer-secret-file: ${(error as Error).message}`);
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
  const tokenFiles = loadTokenFiles(config.servers, log);
  const { limits } = config;
  const { cluster } = config;
  const peers = startPeerLink(config, log);
  const metrics = new Metrics({ processMetrics: config.metricsListen !== undefined, node: cluster.nodeIdGiven ? cluster.nodeId : undefined });
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
  const policy = guardPolicy(config);
  const identify = clientIdentityResolver(config);
  const oauth = config.oauth && startAuthorizationServer(config.oauth, identify, policy, log);
  // Per client across every server: one address is one client wherever it goes.
  const sessionRate = new ClientRateLimit(limits.sessionsPerMinute);
  const requestRate = new ClientRateLimit(limits.requestsPerMinute);
  const authFailures = new ClientRateLimit(limits.authFailuresPerMinute);
  let stopping: Promise<void> | undefined;

  const backends = config.servers.map(
    (server) =>
      new Backend({
        config,
        server,
        registry,
        budget,
        metrics: metrics.forServer(server.name),
        log: config.serverList === undefined ? log : log.child({ server: server.name }),
        guard,
        containment,
      }),
  );
  const endpoints = new Map<string, McpRoute>();
  const auths: Authentication[] = [];
  config.servers.forEach((server, index) => {
    const backend = backends[index];
    const endpoint = createMcpEndpoint({
      registry,
      server: backend.cap,
      maxBodyBytes: limits.maxBodyBytes,
      sessionRate,
      startSession: (reservation, caller, protocolVersion) => backend.startSession(reservation, caller, protocolVersion),
      resume: config.resume !== undefined,
      modern: backend.modern,
      peers,
      sse,
      metrics: backend.metrics,
      warnings,
      log,
    });
    for (const path of server.paths) {
      const auth = authentication(server.authTokenFile === undefined ? undefined : tokenFiles.get(server.authTokenFile), oauth?.forPath(path, server.paths));
      auths.push(auth);
      const admission = createAdmission({ policy, identify, peers, auth, requestRate, authFailures, metrics: backend.metrics, warnings });
      endpoints.set(path, { admission, endpoint });
    }
  });
  const statuses = () =>
    backends.map((backend, index) => ({
      name: backend.name,
      path: config.servers[index].paths[0],
      notReady: stopping ? 'shutting down' : backend.notReady(),
    }));
  const listing = config.serverList === undefined ? undefined : {
    path: config.serverList,
    admission: createAdmission({ policy, identify, peers, auth: anyOf(auths), requestRate, authFailures, metrics: metrics.forServer(''), warnings }),
  };
  const listener = createRequestListener({ endpoints, listing, statuses, peers, metrics, log, mount: (app) => oauth?.mount(app) });

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
  for (const backend of backends) backend.start();

  return {
    url: urlOf(server.address() as AddressInfo, listing?.path ?? config.path),
    servers: config.servers.map((served) => ({ name: served.name, url: urlOf(server.address() as AddressInfo, served.paths[0]) })),
    metricsUrl: metricsServer ? urlOf(metricsServer.address() as AddressInfo, '/metrics') : undefined,
    reloadTokens: () => {
      try {
        for (const [file, tokens] of tokenFiles) log.info({ file, tokens: tokens.load() }, 'bearer tokens reloaded');
        oauth?.reload();
      } catch (error) {
        log.error({ err: (error as Error).message }, 'could not reload a token file or the OAuth state; keeping the previous ones');
      }
    },
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all(backends.map((backend) => backend.stopPool()));
        // Draining, the listener stays open: the sessions' clients may come back on new connections.
        if (cluster.drainTimeoutMs > 0) {
          log.info({ sessions: registry.size, timeoutSeconds: cluster.drainTimeoutMs / 1000 }, 'draining: no new sessions; each session ends once its calls are answered');
          const drained = await Promise.all([registry.drain(cluster.drainTimeoutMs), ...backends.map((backend) => backend.modern?.drain(cluster.drainTimeoutMs))]);
          if (drained.includes(false)) log.warn('drain timeout reached; ending the sessions and calls still busy');
        }
        server.close();
        metricsServer?.close();
        const clean = await registry.endAll(config.shutdownTimeoutMs);
        await Promise.all(backends.map((backend) => backend.close()));
        if (!clean) log.warn('shutdown timeout reached; killing the remaining children');
        sse.stop();
        server.closeAllConnections();
        metricsServer?.closeAllConnections();
        // Any group still listed is killed by the guard as its pipe closes.
        guard.close();
        oauth?.close();
        peers.close();
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
  if (config.serverList !== undefined) for (const { name, url } of bridge.servers) process.stdout.write(`mcp-bridge serves ${name} at ${url}\n`);
  if (bridge.metricsUrl) process.stdout.write(`mcp-bridge metrics on ${bridge.metricsUrl}\n`);
  for (const server of config.servers) {
    const { child, childEnv, childCwd } = server;
    const named = config.serverList === undefined ? {} : { server: server.name, path: server.paths[0] };
    log.info({ url: bridge.url, ...named, command: [child.command, ...child.args].join(' ') }, 'listening');
    if (!commandIsRunnable(child.command, childEnv.PATH, childCwd)) {
      log.warn({ ...named, command: child.command }, 'the MCP server command cannot be run (not found or not executable); every new session will fail until it can');
    }
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
