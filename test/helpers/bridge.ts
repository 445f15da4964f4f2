/** Starts the real bridge (built CLI) on a free loopback port and finds every process it spawned. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { isAlive, processesWith } from './processes.js';

export { isAlive };

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BRIDGE_BIN = `${ROOT}bin/mcp-bridge.js`;
export const FIXTURE = ['node', `${ROOT}test/fixtures/fixture-server.mjs`];
export const EVERYTHING = ['node', `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`, 'stdio'];

export interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

export interface Bridge {
  url: string;
  /** Marks every process the bridge spawns for this test (it is in their environment). */
  tag: string;
  process: ChildProcessWithoutNullStreams;
  logs: LogLine[];
  /** Everything the bridge printed on stdout so far. */
  stdout(): string;
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Signals the bridge and waits for it to exit; returns its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** A port nothing listens on now (the kernel's pick, released at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const running = new Set<Bridge>();

export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 20, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function startBridge(
  args: string[],
  command: string[] = FIXTURE,
  { env = {}, expectListening = true }: { env?: Record<string, string>; expectListening?: boolean } = {},
): Promise<Bridge> {
  const tag = randomUUID();
  const child = spawn(
    process.execPath,
    [BRIDGE_BIN, '--port', '0', '--log-level', 'debug', '--env', `FIXTURE_TAG=${tag}`, '--env', `FIXTURE_RUN=${inject('runId')}`, ...args, '--', ...command],
    { env: { ...process.env, ...env }, stdio: 'pipe' },
  );
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let stderrPartial = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    const lines = (stderrPartial + text).split('\n');
    stderrPartial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ level: 'raw', msg: line });
      }
    }
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => (out += text));
  const bridge: Bridge = {
    url: '',
    tag,
    process: child,
    logs,
    stdout: () => out,
    exited,
    waitForLog: (predicate, timeoutMs = 10_000) =>
      waitFor(() => logs.find(predicate), { timeoutMs, what: 'a log line' }),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  running.add(bridge);
  if (!expectListening) return bridge;
  const started = await Promise.race([
    // Generous: a bridge starts in well under a second, but on a machine running two suites at once it can take many.
    waitFor(() => /listening on (\S+)/.exec(out)?.[1], { timeoutMs: 25_000, what: 'the bridge to listen' }),
    exited.then((code) => Promise.reject(new Error(`bridge exited with ${code}: ${JSON.stringify(logs)}`))),
  ]);
  bridge.url = started;
  return bridge;
}

/** PIDs of live processes whose environment carries this bridge's tag (children, grandchildren, orphans). */
export function taggedProcesses(tag: string): number[] {
  return processesWith(`FIXTURE_TAG=${tag}`);
}

/** Stops every bridge the test started and checks that none of their processes outlived them. */
export async function stopAllBridges(): Promise<void> {
  const bridges = [...running];
  running.clear();
  await Promise.all(bridges.map((bridge) => bridge.stop('SIGTERM')));
  for (const bridge of bridges) {
    const leftovers = await waitFor(() => taggedProcesses(bridge.tag).length === 0 || undefined, {
      timeoutMs: 5000,
      what: `no process left for bridge ${bridge.tag}`,
    }).catch(() => taggedProcesses(bridge.tag));
    if (Array.isArray(leftovers) && leftovers.length > 0) {
      for (const pid of leftovers) process.kill(pid, 'SIGKILL');
      throw new Error(`processes outlived their bridge: ${leftovers.join(', ')}`);
    }
  }
}
