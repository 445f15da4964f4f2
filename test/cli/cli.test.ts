/** The command line: exit codes, help, environment variables, and the default server. */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fakeBin(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

describe('bad options exit 2 with a one-line reason', () => {
  it.each([
    [['--bogus', '--', 'true'], /Unknown argument: bogus/],
    [['--port', '70000', '--', 'true'], /--port must be an integer from 0 to 65535/],
    [['--port', 'http', '--', 'true'], /--port must be an integer/],
    [['--env', 'NOEQUALS', '--', 'true'], /--env expects KEY=VALUE/],
    [['--log-level', 'loud', '--', 'true'], /Invalid values/],
    [['--path', 'mcp', '--', 'true'], /--path must start with/],
    [['--allowed-origin', 'not a url', '--', 'true'], /--allowed-origin must be an origin/],
    [['--idle-timeout', '0', '--', 'true'], /--idle-timeout must be a positive number/],
    [['--cwd', '/nonexistent/dir', '--', 'true'], /--cwd must be an existing directory/],
  ])('%j', async (args, reason) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(reason);
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

  it('prints the version', async () => {
    const result = await cli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('running', () => {
  it('takes options from MCP_BRIDGE_* variables and prints the real URL for --port 0', async () => {
    const bridge = await startBridge([], FIXTURE, {
      env: { MCP_BRIDGE_PATH: '/custom/mcp', MCP_BRIDGE_PASS_ENV: 'FROM_ENV,OTHER', FROM_ENV: '1' },
    });
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/custom\/mcp$/);
    expect(bridge.url).not.toMatch(/:0\//);
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
