/** `--config FILE`: what the file may say, what it may not, and how the command line fills in the rest. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/parse-args.js';
import { readServersFile } from '../../src/cli/servers-file.js';
import type { Config } from '../../src/config.js';
import { ROOT } from '../helpers/bridge.js';

const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-servers-file-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let files = 0;
function file(content: unknown): string {
  const path = join(scratch, `servers-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function configOf(args: string[]): Promise<Config> {
  const parsed = await parseArgs(args, { PATH: process.env.PATH });
  if (parsed.kind !== 'run') throw new Error(`not a run: ${parsed.kind}`);
  return parsed.config;
}

describe('the servers file', () => {
  it("reads Claude Desktop's mcpServers and VS Code's servers, skips disabled entries, ignores unknown keys", () => {
    const desktop = file({
      globalShortcut: 'x',
      mcpServers: {
        nixos: { command: 'mcp-nixos', args: ['--stdio'], env: { A: '1' }, cwd: '.', icon: 'ignored' },
        off: { command: 'nope', disabled: true },
      },
    });
    expect(readServersFile(desktop)).toEqual([
      expect.objectContaining({ name: 'nixos', command: 'mcp-nixos', args: ['--stdio'], env: { A: '1' }, cwd: scratch }),
    ]);
    const vscode = file({ inputs: [], servers: { memory: { type: 'stdio', command: 'npx', args: ['-y', 'memory'] } } });
    expect(readServersFile(vscode).map((s) => s.name)).toEqual(['memory']);
  });

  it("reads the README's example as the README describes it", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const example = /### Several servers[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'a json block in the README\'s "Several servers"').toBeDefined();
    const servers = readServersFile(file(example));
    expect(servers.map((server) => server.name)).toEqual(['everything', 'files', 'nixos']);
    expect(servers[0]?.tools).toEqual({ allow: undefined, deny: ['get-env', 'gzip-file-*'] });
    expect(servers[1]?.authTokenFile).toBe(join(scratch, 'secrets/files-tokens'));
    expect(servers[2]?.shared).toBe(true);
  });

  it('refuses a bad value with a message that names the file, the server and the key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ mcpServers: { a: { args: [] } } }, /server "a": "command" must be/],
      [{ mcpServers: { a: { command: 'x', args: 'y' } } }, /server "a": "args" must be a list of strings, got "y"/],
      [{ mcpServers: { a: { command: 'x', env: { A: 1 } } } }, /server "a": "env" must be an object of variable names to strings/],
      [{ mcpServers: { a: { command: 'x', tools: { deny: 'rm*' } } } }, /server "a": "tools.deny" must be a list of strings/],
      [{ mcpServers: { a: { command: 'x', pool: -1 } } }, /server "a": "pool" must be a non-negative integer/],
      [{ mcpServers: { a: { command: 'x', shared: true, pool: 2 } } }, /server "a": "pool" must be 0 or absent with "shared": true/],
      [{ mcpServers: { a: { command: 'x', maxSessions: 0 } } }, /server "a": "maxSessions" must be a positive integer/],
      [{ mcpServers: { a: { command: 'x', cwd: '/nonexistent/dir' } } }, /server "a": "cwd" must be an existing directory/],
      [{ mcpServers: { a: { type: 'http', url: 'https://x' } } }, /server "a": "type" must be "stdio"/],
      [{ mcpServers: { Bad_Name: { command: 'x' } } }, /server name "Bad_Name" must be lowercase letters, digits and "-" only/],
      [{ mcpServers: { a: { command: 'x', disabled: true } } }, /no server is enabled/],
      [{ other: {} }, /expected \{"mcpServers"/],
      ['{ not json', /--config: cannot read .*servers-\d+\.json/],
    ];
    for (const [content, message] of cases) {
      const path = file(content);
      expect(() => readServersFile(path), JSON.stringify(content)).toThrow(message);
    }
  });

  it('serves each server at <path-prefix>/servers/NAME/mcp, with the command line as the defaults of each', async () => {
    const path = file({
      mcpServers: {
        one: { command: 'one', env: { LEVEL: 'server' }, shared: true, tools: { allow: ['read_*'] } },
        two: { command: 'two', maxSessions: 99, idleTimeout: 5, authTokenFile: 'tokens' },
      },
    });
    const config = await configOf(['--config', path, '--path-prefix', '/mcp', '--env', 'LEVEL=cli', '--env', 'B=2', '--pool', '1', '--max-sessions', '10', '--auth-token-file', '/etc/t']);
    expect(config.serverList).toBe('/mcp/servers');
    const [one, two] = config.servers;
    expect(one).toMatchObject({ name: 'one', paths: ['/mcp/servers/one/mcp'], shared: true, pool: 0, maxSessions: 10, authTokenFile: '/etc/t', tools: { allow: ['read_*'], deny: [] } });
    expect(one.childEnv).toMatchObject({ LEVEL: 'server', B: '2' });
    expect(one.child).toMatchObject({ command: 'one', args: [] });
    // Its own cap cannot pass the bridge's; relative paths start at the file's folder.
    expect(two).toMatchObject({ name: 'two', pool: 1, maxSessions: 10, idleTimeoutMs: 5000, authTokenFile: join(scratch, 'tokens'), tools: undefined });
    expect(two.childEnv.LEVEL).toBe('cli');
  });

  it('serves the only server at --path too; refuses a command after -- with --config', async () => {
    const path = file({ mcpServers: { solo: { command: 'solo' } } });
    expect((await configOf(['--config', path])).servers[0].paths).toEqual(['/servers/solo/mcp', '/mcp']);
    await expect(configOf(['--config', path, '--', 'other'])).rejects.toThrow(/--config names the servers: give no command after --/);
  });

  it('needs authentication for every server on a public address: a server without a token file names itself', async () => {
    const path = file({ mcpServers: { locked: { command: 'x', authTokenFile: '/etc/t' }, open: { command: 'y' } } });
    await expect(configOf(['--config', path, '--host', '0.0.0.0'])).rejects.toThrow(/server "open" has no authTokenFile/);
  });

  it('with --oauth, derives each server\'s public URL from --public-url, which must then end with --path', async () => {
    const path = file({ mcpServers: { a: { command: 'x' }, b: { command: 'y' } } });
    const oauth = ['--oauth', '--oauth-owner-file', '/etc/owner', '--config', path];
    const config = await configOf([...oauth, '--public-url', 'https://mcp.example.org/mcp']);
    expect(config.oauth?.resources).toEqual([
      { path: '/servers/a/mcp', url: 'https://mcp.example.org/servers/a/mcp' },
      { path: '/servers/b/mcp', url: 'https://mcp.example.org/servers/b/mcp' },
    ]);
    await expect(configOf([...oauth, '--public-url', 'https://mcp.example.org/elsewhere'])).rejects.toThrow(/--public-url must end with --path \(\/mcp\)/);
  });
});
