// Drivers: the ways a client can reach the same stdio MCP server, and backends: the servers.
//
// Every driver starts with `start(backend, ctx)` and gives back an instance with
//   connect()  -> a session { client (SDK Client, or raw-client.mjs's with --client raw),
//                 pid (direct only), close({ terminate }) }
//   root       -> pid of the gateway process whose tree we measure (null for direct)
//   target     -> what bench/vanish-client.mjs needs to open sessions on its own
//   stop()
// so that the measurements never need to know which driver they are timing.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { listeningSockets, stopTree } from './procs.mjs';
import { connectRawHttp, connectRawStdio } from './raw-client.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = join(here, '..');

/** A package's bin script, read from its package.json so that a relayout in a new version still works. */
function binOf(pkg) {
  const dir = join(here, 'node_modules', pkg);
  const { bin } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return join(dir, typeof bin === 'string' ? bin : Object.values(bin)[0]);
}

/** Children a bridge run with these options keeps with no session open but has not started yet. */
function keptBridgeChildren(args) {
  // The --shared child starts with the first session and stays; --pool children exist from the start.
  return args.includes('--shared') ? 1 : 0;
}

export const backends = {
  echo: { name: 'echo', command: [process.execPath, join(here, 'echo-server.mjs')] },
  everything: {
    name: 'everything',
    command: [process.execPath, binOf('@modelcontextprotocol/server-everything'), 'stdio'],
  },
};

// The clients: one SDK Client per MCP session, as a real host would use them.
const clientInfo = { name: 'mcp-bridge-bench', version: '1.0.0' };
// Bounded, so that a gateway that loses an initialize costs the run seconds, not the SDK's minute.
const CONNECT_TIMEOUT_MS = 15_000;

async function connectOrClose(client, transport) {
  try {
    await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
  } catch (error) {
    await client.close().catch(() => undefined); // do not leave a half-open session or a child behind
    throw error;
  }
}

async function connectHttp(url) {
  const client = new Client(clientInfo);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await connectOrClose(client, transport);
  return {
    client,
    pid: null,
    async close({ terminate = true } = {}) {
      // DELETE is what a well-behaved client sends; the vanish figure is about clients that don't.
      if (terminate) await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

async function connectStdio(command) {
  const client = new Client(clientInfo);
  const transport = new StdioClientTransport({ command: command[0], args: command.slice(1), stderr: 'ignore' });
  await connectOrClose(client, transport);
  return {
    client,
    pid: transport.pid,
    async close() {
      await client.close().catch(() => undefined);
    },
  };
}

/** A free loopback port for peers that cannot pick one and tell us (a small race, harmless here). */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port, child, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before listening`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(socket.end() && true));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`not listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/**
 * Spawn a gateway in a process group of its own (so it can be stopped with its whole group), with
 * stderr to a log file: a gateway writing to our terminal would slow it and garble the table.
 */
function spawnGateway(name, backend, args, ctx) {
  const log = join(ctx.logDir, `${name}-${backend.name}.log`);
  const stderr = openSync(log, 'a');
  const child = spawn(process.execPath, args, { cwd: here, detached: true, stdio: ['ignore', 'pipe', stderr] });
  closeSync(stderr); // the child has its own copy
  ctx.janitor.adopt(child.pid);
  // stdout goes to the log too (after we read the bridge's URL from it): an unread pipe fills up and
  // would block a gateway that writes to it.
  child.stdout.pipe(createWriteStream(log, { flags: 'a' }));
  child.log = log;
  return child;
}

/** Refuse to benchmark a gateway that listens anywhere but loopback. */
function checkLoopback(name, child) {
  const sockets = listeningSockets(child.pid);
  const open = sockets.filter((s) => !s.loopback);
  if (open.length > 0) throw new Error(`${name} listens on ${open.map((s) => s.address).join(', ')}: not loopback`);
  return sockets.map((s) => s.address).join(', ');
}

function httpInstance(name, child, url, ctx) {
  return {
    name,
    root: child.pid,
    url,
    listen: checkLoopback(name, child),
    log: child.log,
    target: { url },
    connect: () => (ctx.client === 'raw' ? connectRawHttp(url, CONNECT_TIMEOUT_MS) : connectHttp(url)),
    async stop() {
      const left = await stopTree(child.pid);
      ctx.janitor.forget(child.pid);
      return left;
    },
  };
}

/** Starts a gateway that prints `listening on URL` on stdout, and waits for that line. */
async function startPrintingUrl(name, backend, args, ctx) {
  const child = spawnGateway(name, backend, [...args, ...backend.command], ctx);
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const read = (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        child.stdout.off('data', read);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', read);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening; see ${child.log}`)));
    setTimeout(() => reject(new Error(`${name} did not print its URL within 20 s`)), 20_000).unref();
  });
  return httpInstance(name, child, url, ctx);
}

/** The bridge built in `root` (this repository by default; bench/wrk.mjs passes an older build as the baseline). */
export function bridgeDriver(name, modeArgs, root = repo) {
  return {
    name,
    kind: 'ours',
    async start(backend, ctx) {
      const main = join(root, 'bin', 'mcp-bridge.js');
      if (root === repo) checkBuilt();
      const nodeArgs = ctx.profileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir] : [];
      const args = [...modeArgs, ...(ctx.bridgeArgs ?? [])];
      const inst = await startPrintingUrl(name, backend, [
        ...nodeArgs, main, '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', ...bridgeLimitFlags(main),
        ...args, '--',
      ], ctx);
      // Children the bridge keeps by design with no session open: "settled" and "children left" count them.
      inst.keptChildren = keptBridgeChildren(args);
      return inst;
    },
  };
}

/**
 * Two bridges as nodes a and b, b's sessions reached through a: every call takes the peer hop (a passes
 * it to b, b answers through a). `url` is a's, `sessionUrl` b's; CPU counts both bridges.
 */
function peerDriver(name) {
  return {
    name,
    kind: 'ours',
    async start(backend, ctx) {
      const secret = join(ctx.logDir, `mcp-bridge-bench-peer-secret-${process.pid}`);
      writeFileSync(secret, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
      const node = (id, extra) => bridgeDriver(`${name}-${id}`, ['--node-id', id, '--peer-secret-file', secret, ...extra]);
      const b = await node('b', []).start(backend, ctx);
      const a = await node('a', ['--peer', `b=${new URL(b.url).origin}`]).start(backend, ctx);
      return {
        ...a,
        sessionUrl: b.url,
        roots: [a.root, b.root],
        keptChildren: a.keptChildren + b.keptChildren,
        async stop() {
          return (await a.stop()) + (await b.stop());
        },
      };
    },
  };
}

export const drivers = {
  // Ours, with the CLI's defaults except the limits (see bridgeLimitFlags), in its three modes: a child
  // per session spawned on initialize, taken from a warm pool (more pooled children than the sessions a
  // block opens back to back), or one shared child. Logs at warn, as the peers are run quiet too.
  bridge: bridgeDriver('bridge', []),
  'bridge-pool': bridgeDriver('bridge-pool', ['--pool', '8']),
  'bridge-shared': bridgeDriver('bridge-shared', ['--shared']),
  // Two nodes, every call passed from one to the other (--peer): what the hop of a round-robin balancer costs.
  'bridge-peer': peerDriver('bridge-peer'),

  // A reference, not a gateway: node:http in front of one child, one-event SSE answers, nothing else
  // (see floor-server.mjs). What Node's HTTP stack alone adds to a call on this machine.
  floor: {
    name: 'floor',
    kind: 'reference',
    start: (backend, ctx) => startPrintingUrl('floor', backend, [join(here, 'floor-server.mjs')], ctx),
  },

  // The physical limit: the SDK's stdio client talking to the server itself, no HTTP hop.
  direct: {
    name: 'direct',
    kind: 'direct',
    async start(backend, ctx) {
      const { command } = backend;
      return {
        name: 'direct',
        root: null,
        listen: '(stdio)',
        target: { stdio: command },
        connect: () => (ctx.client === 'raw' ? connectRawStdio(command, CONNECT_TIMEOUT_MS) : connectStdio(command)),
        async stop() {
          return 0;
        },
      };
    },
  },

  // supergateway 4.0.0 in stateful Streamable HTTP mode: one child (spawned through a shell) per
  // session. It has no host flag and binds all interfaces, so loopback-only.mjs is preloaded.
  // --logLevel none: at its default (info) it logs every message, which would be unfair to it.
  supergateway: {
    name: 'supergateway',
    kind: 'peer',
    async start(backend, ctx) {
      const port = await freePort();
      const command = backend.command.map(shellQuote).join(' ');
      const child = spawnGateway('supergateway', backend, [
        '--import', join(here, 'loopback-only.mjs'), binOf('supergateway'),
        '--stdio', command, '--outputTransport', 'streamableHttp', '--stateful',
        '--port', String(port), '--logLevel', 'none',
      ], ctx);
      await waitForPort(port, child).catch((e) => {
        throw new Error(`supergateway ${e.message}; see ${child.log}`);
      });
      return httpInstance('supergateway', child, `http://127.0.0.1:${port}/mcp`, ctx);
    },
  },

  // mcp-proxy (punkpeye) 6.7.19: one child shared by every session, started with the proxy.
  // --server stream: only the Streamable HTTP endpoint (its legacy SSE endpoint is not measured).
  'mcp-proxy': {
    name: 'mcp-proxy',
    kind: 'peer',
    async start(backend, ctx) {
      const port = await freePort();
      const child = spawnGateway('mcp-proxy', backend, [
        binOf('mcp-proxy'), '--host', '127.0.0.1', '--port', String(port), '--server', 'stream',
        '--', ...backend.command,
      ], ctx);
      await waitForPort(port, child).catch((e) => {
        throw new Error(`mcp-proxy ${e.message}; see ${child.log}`);
      });
      return httpInstance('mcp-proxy', child, `http://127.0.0.1:${port}/mcp`, ctx);
    },
  },
};

/**
 * Every client of the benchmark comes from 127.0.0.1, so the bridge's per-client limits (sessions per
 * client, sessions and requests per minute) would throttle the benchmark itself, and 50 open sessions
 * exceed the default --max-sessions. The peers have no such limits, so they are lifted here. Only flags
 * that this build's --help lists are passed: the CLI is under active development.
 */
const limitFlags = new Map();
function bridgeLimitFlags(main) {
  if (limitFlags.has(main)) return limitFlags.get(main);
  const help = execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
  const wanted = [
    ['--max-sessions', '1000'],
    ['--max-sessions-per-client', '1000'],
    ['--sessions-per-minute', '0'],
    ['--requests-per-minute', '0'],
  ];
  limitFlags.set(main, wanted.filter(([flag]) => new RegExp(`${flag}\\b(?!-)`).test(help)).flat());
  return limitFlags.get(main);
}

function shellQuote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The bridge runs from dist/: say so if it is missing or older than src/ rather than time stale code. */
let warnedStale = false;
function checkBuilt() {
  const dist = join(repo, 'dist', 'cli', 'main.js');
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build` in the repository first');
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .reduce((t, e) => Math.max(t, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs), 0);
  if (!warnedStale && newest(join(repo, 'src')) > newest(join(repo, 'dist'))) {
    warnedStale = true;
    console.error('warning: src/ is newer than dist/; the bridge measured is the last build (`npm run build`)');
  }
}
