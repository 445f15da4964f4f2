/** The command line: exit codes, help, environment variables, and the default server. */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { resolveDefaultServer } from '../../src/cli/default-server.js';
import { BRIDGE_BIN, FIXTURE, startBridge, stopAllBridges } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawRequest, textOf } from '../helpers/client.js';

const run = promisify(execFile);
afterEach(stopAllBridges);

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BRIDGE_BIN, ...args], { env: { ...process.env, ...env }, timeout: 10_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-cli-'));

/** Whether this machine can listen on ::1 (a machine without IPv6 skips the test that needs it). */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fakeBin(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

const hasIpv6Loopback = await ipv6Loopback();

describe('bad options exit 2 with a one-line reason', () => {
  it.each([
    [['--bogus', '--', 'true'], /Unknown argument: bogus/],
    [['--port', '70000', '--', 'true'], /--port must be an integer from 0 to 65535/],
    [['--port', 'http', '--', 'true'], /--port must be a number, got "http"/],
    [['--env', 'NOEQUALS', '--', 'true'], /--env expects KEY=VALUE/],
    [['--log-level', 'loud', '--', 'true'], /Argument: log-level, Given: "loud", Choices: "error", "warn", "info", "debug"/],
    [['--stall-timeout', 'soon', '--', 'true'], /--stall-timeout must be a number, got "soon"/],
    [['server.py'], /unknown command "server.py": the MCP server's command goes after --/],
    [['--path', 'mcp', '--', 'true'], /--path must start with/],
    [['--allowed-origin', 'not a url', '--', 'true'], /--allowed-origin must be an origin/],
    [['--idle-timeout', '0', '--', 'true'], /--idle-timeout must be a positive number/],
    [['--cwd', '/nonexistent/dir', '--', 'true'], /--cwd must be an existing directory/],
  ])('%j', async (args, reason) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(reason);
  });

  it('prints the reason once, not as a log record too', async () => {
    const result = await cli(['--port', 'http', '--', 'true']);
    expect(result.stderr.trim().split('\n')).toHaveLength(2);
    expect(result.stderr).not.toContain('"level"');
  });

  it.skipIf(!hasIpv6Loopback)('exits 2 with one line when the port is taken, and serves an IPv6 host written in brackets', async () => {
    const first = await startBridge(['--host', '[::1]']);
    expect(first.url).toMatch(/^http:\/\/\[::1\]:\d+\/mcp$/);
    const port = new URL(first.url).port;
    const taken = await cli(['--host', '[::1]', '--port', port, '--', 'true']);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(new RegExp(`^mcp-bridge: cannot listen on \\[::1\\]:${port}: the address is already in use`));
    expect(taken.stderr).not.toContain('"level"');
  });

  it('names the ways to get a server when none is given and mcp-nixos is absent', async () => {
    const result = await cli([], { PATH: scratch });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/mcp-nixos was not found.*mcp-bridge -- <command>/);
  });
});

describe('repeated options', () => {
  it('keeps the last value of a scalar option and every value of a list option', async () => {
    const bridge = await startBridge(['--log-level', 'info', '--path', '/first', '--path', '/second', '--allowed-host', 'a.example', '--allowed-host', 'b.example']);
    expect(bridge.url).toMatch(/\/second$/);
    // --log-level debug (from the helper) then info: debug lines stop.
    expect(bridge.logs.some((l) => l.level === 'debug')).toBe(false);
    for (const host of ['a.example', 'b.example']) {
      const response = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, host }, body: JSON.stringify(INIT_BODY) });
      expect(response.status, host).toBe(200);
    }
  });
});

describe('help and version', () => {
  it('prints help with examples and exits 0', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Examples:');
    expect(result.stdout).toContain('--allowed-host');
  });

  it('prints help for a bare `help` too, instead of running it as the server', async () => {
    const result = await cli(['help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/command and its arguments go after --/);
  });

  it('prints the version', async () => {
    const result = await cli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('running', () => {
  it('takes options from MCP_BRIDGE_* variables and prints the real URL for --port 0', async () => {
    const bridge = await startBridge([], FIXTURE, {
      env: { MCP_BRIDGE_PATH: '/custom/mcp', MCP_BRIDGE_PASS_ENV: 'FROM_ENV,OTHER', FROM_ENV: '1', MCP_BRIDGE_RESUME: 'no', MCP_BRIDGE_FOO: '1' },
    });
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/custom\/mcp$/);
    expect(bridge.url).not.toMatch(/:0\//);
    // A variable that names no option is ignored with a warning that names it.
    const warning = await bridge.waitForLog((l) => l.level === 'warn' && /MCP_BRIDGE_FOO/.test(l.msg));
    expect(warning.msg).toMatch(/no option of that name/);
    const primed = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(primed.body).not.toMatch(/^id:/m);
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'FROM_ENV' } }))).toBe('1');
  });

  it('serves mcp-nixos from PATH by default, in stdio mode', async () => {
    const dir = mkdtempSync(join(scratch, 'path-'));
    // A stand-in mcp-nixos that runs the fixture server.
    fakeBin(dir, 'mcp-nixos', `exec ${FIXTURE.map((w) => (w === 'node' ? process.execPath : w)).join(' ')}`);
    const bridge = await startBridge([], [], { env: { PATH: `${dir}:/usr/bin:/bin` } });
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'MCP_NIXOS_TRANSPORT' } }))).toBe('stdio');
  });
});

describe('a command that cannot run', () => {
  it('is warned about at start, naming it in the log', async () => {
    const bridge = await startBridge([], ['/nonexistent/mcp-server']);
    const warning = await bridge.waitForLog((l) => l.level === 'warn' && /cannot be run/.test(l.msg));
    expect(warning.command).toBe('/nonexistent/mcp-server');
  });
});

describe('default server resolution order', () => {
  it('prefers mcp-nixos, then uvx, then nix', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => mkdtempSync(join(scratch, `${n}-`)));
    fakeBin(c, 'nix', 'true');
    expect(resolveDefaultServer(c)).toMatchObject({ args: expect.arrayContaining(['run', 'nixpkgs#mcp-nixos']) });
    fakeBin(b, 'uvx', 'true');
    expect(resolveDefaultServer(`${c}:${b}`)).toMatchObject({ command: join(b, 'uvx'), args: ['mcp-nixos'] });
    fakeBin(a, 'mcp-nixos', 'true');
    expect(resolveDefaultServer(`${c}:${b}:${a}`)).toMatchObject({ command: join(a, 'mcp-nixos'), args: [] });
  });
});
