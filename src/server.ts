/** Start and stop: wire the layers, listen, report to systemd, and drain on SIGINT/SIGTERM. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ChildProcess } from './child/child-process.js';
import { commandIsRunnable } from './child/find-command.js';
import { startOrphanGuard } from './child/orphan-guard.js';
import { SharedChild } from './child/shared-child.js';
import { dedicatedUpstream, type Upstream, type UpstreamEvents } from './child/upstream.js';
import { WarmPool } from './child/warm-pool.js';
import { ConfigError, type Config } from './config.js';
import { createApp } from './http/app.js';
import { TokenFile } from './http/auth.js';
import { clientAddressResolver } from './http/client-address.js';
import { directEventStreams } from './http/event-stream.js';
import { guardPolicy } from './http/guards.js';
import { createMcpEndpoint } from './http/mcp-endpoint.js';
import { ClientRateLimit } from './http/rate-limits.js';
import type { Logger } from './log.js';
import { Metrics, serveMetrics } from './metrics.js';
import { EventBudget } from './session/event-store.js';
import { SessionRegistry, type Reservation } from './session/registry.js';
import { Session } from './session/session.js';
import { createNotifier, startWatchdog } from './systemd-notify.js';
import { VERSION } from './version.js';

export interface RunningBridge {
  url: string;
  metricsUrl: string | undefined;
  /** Re-reads the token file (SIGHUP). */
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

export async function startBridge(config: Config, log: Logger): Promise<RunningBridge> {
  const tokens = loadTokens(config, log);
  const metrics = new Metrics({ processMetrics: config.metricsListen !== undefined });
  const guard = startOrphanGuard(log);
  const registry = new SessionRegistry(config.limits);
  const eventBudget = config.resume && new EventBudget(config.resume.maxBytesTotal);
  let stopping: Promise<void> | undefined;

  const spawnChild = async () => {
    const child = await ChildProcess.spawn({ command: config.child, env: config.childEnv, cwd: config.childCwd, guard });
    metrics.childSpawned();
    return child;
  };
  const pool = config.pool > 0 ? new WarmPool(config.pool, spawnChild, () => registry.room(), log, config.killGraceMs) : undefined;
  const maxLineBytes = config.limits.maxChildLineBytes;
  const shared = config.shared
    ? new SharedChild({ spawn: spawnChild, log, metrics, maxLineBytes, killGraceMs: config.killGraceMs, version: VERSION })
    : undefined;
  /** How a new session reaches its server: a share of the shared child, or a child of its own. */
  const upstreamFor = async (): Promise<(log: () => Logger, events: UpstreamEvents) => Upstream> => {
    if (shared) return (sessionLog, events) => shared.attach(sessionLog, events);
    const child = pool?.take() ?? (await spawnChild());
    return (sessionLog, events) => dedicatedUpstream(child, { log: sessionLog, metrics, maxLineBytes }, events);
  };
  const startSession = async (reservation: Reservation, clientAddress: string) => {
    const connect = await upstreamFor();
    const session = new Session(connect, {
      config,
      log: log.child({ client: clientAddress }),
      eventBudget,
      metrics,
      clientAddress,
      hooks: {
        initialized: (s) => registry.index(s),
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
    maxBodyBytes: config.limits.maxBodyBytes,
    sessionRate: new ClientRateLimit(config.limits.sessionsPerMinute),
    startSession,
    metrics,
    log,
  });
  /** Rule: ready while not shutting down, the command can be run, and a session fits (or an idle one can go). */
  const notReady = () => {
    if (stopping) return 'shutting down';
    if (!commandIsRunnable(config.child.command, config.childEnv.PATH, config.childCwd)) return `cannot run ${config.child.command}`;
    if (!registry.hasRoom()) return 'every session is busy';
    return undefined;
  };
  const app = createApp({
    path: config.path,
    policy: guardPolicy(config),
    clientAddress: clientAddressResolver(config.trustProxy),
    tokens,
    requestRate: new ClientRateLimit(config.limits.requestsPerMinute),
    endpoint,
    notReady,
    metrics,
    log,
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({
      fetch: directEventStreams(app.fetch),
      hostname: config.host,
      port: config.port,
      serverOptions: {
        // Slow clients (slowloris) lose their connection instead of holding it.
        headersTimeout: config.limits.headersTimeoutMs,
        requestTimeout: config.limits.requestReceiveTimeoutMs,
        maxHeaderSize: config.limits.maxHeaderBytes,
        connectionsCheckingInterval: 1000,
      },
    }) as Server;
    s.once('listening', () => resolve(s));
    s.once('error', reject);
  });
  server.on('error', (error) => log.error({ err: error.message }, 'HTTP server error'));
  const metricsServer = config.metricsListen && (await serveMetrics(metrics, config.metricsListen.host, config.metricsListen.port));
  pool?.refill();

  return {
    url: urlOf(server.address() as AddressInfo, config.path),
    metricsUrl: metricsServer ? urlOf(metricsServer.address() as AddressInfo, '/metrics') : undefined,
    reloadTokens: () => {
      if (!tokens) return;
      try {
        log.info({ tokens: tokens.load() }, 'bearer tokens reloaded');
      } catch (error) {
        log.error({ err: (error as Error).message }, 'could not reload the token file; keeping the previous tokens');
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
        server.closeAllConnections();
        metricsServer?.closeAllConnections();
        // Any group still listed is killed by the guard as its pipe closes.
        guard.close();
      })()),
  };
}

/** Runs until SIGINT/SIGTERM; a second signal forces the exit. SIGHUP re-reads the token file. */
export async function runBridge(config: Config, log: Logger): Promise<void> {
  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection (ignored)'));
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, log);
  } catch (error) {
    log.error({ err: (error as Error).message }, 'cannot start');
    process.stderr.write(`mcp-bridge: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  }
  process.stdout.write(`mcp-bridge listening on ${bridge.url}\n`);
  if (bridge.metricsUrl) process.stdout.write(`mcp-bridge metrics on ${bridge.metricsUrl}\n`);
  log.info({ url: bridge.url, command: [config.child.command, ...config.child.args].join(' ') }, 'listening');
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
