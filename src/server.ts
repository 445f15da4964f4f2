/** Start and stop: wire the layers, listen, and drain on SIGINT/SIGTERM. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { startOrphanGuard } from './child/orphan-guard.js';
import type { Config } from './config.js';
import { createApp } from './http/app.js';
import { guardPolicy } from './http/guards.js';
import { createMcpEndpoint } from './http/mcp-endpoint.js';
import type { Logger } from './log.js';
import { SessionRegistry, type Reservation } from './session/registry.js';
import { createNotifier } from './systemd-notify.js';
import { EventBudget } from './session/event-store.js';
import { Session } from './session/session.js';

export interface RunningBridge {
  url: string;
  /** Stops accepting, ends every session, waits for children (bounded by the shutdown timeout). */
  stop(): Promise<void>;
}

function endpointUrl(address: AddressInfo, path: string): string {
  const host = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}${path}`;
}

export async function startBridge(config: Config, log: Logger): Promise<RunningBridge> {
  const guard = startOrphanGuard(log);
  const registry = new SessionRegistry(config.maxSessions);
  const eventBudget = config.resume && new EventBudget(config.resume.maxBytesTotal);
  const startSession = async (reservation: Reservation) => {
    const session = await Session.start({
      config,
      log,
      guard,
      eventBudget,
      hooks: { initialized: (s) => registry.index(s), ending: (s) => registry.forget(s) },
    });
    reservation.fill(session);
    return session;
  };
  const endpoint = createMcpEndpoint({ registry, maxBodyBytes: config.maxBodyBytes, startSession, log });
  const app = createApp({ path: config.path, policy: guardPolicy(config), endpoint, log });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }) as Server;
    s.once('listening', () => resolve(s));
    s.once('error', reject);
  });
  server.on('error', (error) => log.error({ err: error.message }, 'HTTP server error'));
  const url = endpointUrl(server.address() as AddressInfo, config.path);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      server.close();
      const clean = await registry.endAll(config.shutdownTimeoutMs);
      if (!clean) log.warn('shutdown timeout reached; killing the remaining children');
      server.closeAllConnections();
      // Any group still listed is killed by the guard as its pipe closes.
      guard.close();
    })());
  return { url, stop };
}

/** Runs until SIGINT/SIGTERM; a second signal forces the exit. */
export async function runBridge(config: Config, log: Logger): Promise<void> {
  process.on('unhandledRejection', (reason) => log.error({ err: String(reason) }, 'unhandled rejection (ignored)'));
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, log);
  } catch (error) {
    log.error({ err: (error as Error).message }, `cannot listen on ${config.host}:${config.port}`);
    process.exit(1);
  }
  process.stdout.write(`mcp-bridge listening on ${bridge.url}\n`);
  log.info({ url: bridge.url, command: [config.child.command, ...config.child.args].join(' ') }, 'listening');
  const notify = createNotifier(config.notifySocket, log);

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down');
    void Promise.all([notify('STOPPING=1'), bridge.stop()]).then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await notify('READY=1', `STATUS=Serving ${bridge.url}`);
}
