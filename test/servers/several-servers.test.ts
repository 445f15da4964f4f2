/**
 * Several servers behind one bridge (--config): server-everything and the project's fixture, each at its
 * own path, with tool filters enforced both ways, their own sessions, caps, tokens and readiness.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, FIXTURE, startBridge, stopAllBridges, waitFor, type Bridge } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { grantTokens, makeOwner, startOAuthBridge } from '../helpers/oauth.js';

afterEach(stopAllBridges);
const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-several-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const [node, fixtureScript] = FIXTURE;
const [, everythingScript, stdio] = EVERYTHING;

/** The fixture lets through what its allow list names, minus what the deny list takes back. */
const SERVERS = {
  everything: { command: node, args: [everythingScript, stdio], tools: { deny: ['get-env', 'trigger-*'] } },
  fixture: { command: node, args: [fixtureScript], tools: { allow: ['echo', 'whoami', 'calls', 'delete_*'], deny: ['delete_*'] } },
  solo: { command: node, args: [fixtureScript], shared: true },
  broken: { command: '/nonexistent/mcp-server' },
  off: { command: node, args: [fixtureScript], disabled: true },
};

function configFile(servers: Record<string, unknown>): string {
  const path = join(scratch, `servers-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ mcpServers: servers }));
  return path;
}

/** A server's endpoint URL on this bridge, from the server list's URL it printed. */
const at = (bridge: Bridge, name: string) => bridge.url.replace(/\/servers$/, `/servers/${name}/mcp`);

const call = (id: number, name: string) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

describe('several servers on one endpoint', () => {
  it('serves each at /servers/NAME/mcp, lists them with their readiness, and keeps serving beside one that cannot run', async () => {
    const bridge = await startBridge(['--config', configFile(SERVERS)], []);
    expect(bridge.url).toMatch(/\/servers$/);
    for (const name of ['everything', 'fixture']) {
      const { client } = await connect(at(bridge, name));
      expect(textOf(await client.callTool({ name: 'echo', arguments: name === 'everything' ? { message: 'hi' } : { text: 'hi' } }))).toContain('hi');
      await client.close();
    }
    const listed = await (await fetch(bridge.url)).json();
    expect(listed).toEqual({
      servers: [
        { name: 'everything', path: '/servers/everything/mcp', status: 'ready' },
        { name: 'fixture', path: '/servers/fixture/mcp', status: 'ready' },
        { name: 'solo', path: '/servers/solo/mcp', status: 'ready' },
        { name: 'broken', path: '/servers/broken/mcp', status: 'not ready', reason: 'the MCP server command cannot be run' },
      ],
    });
    const ready = await fetch(new URL('/readyz', bridge.url));
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { servers: unknown }).servers).toMatchObject({ everything: { status: 'ready' }, broken: { status: 'not ready' } });
    const broken = await rawRequest(at(bridge, 'broken'), { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(broken.status).toBe(502);
    // Disabled servers and --path are not served when there are several.
    expect((await rawRequest(at(bridge, 'off'), { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) })).status).toBe(404);
    expect((await rawRequest(new URL('/mcp', bridge.url).href, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) })).status).toBe(404);
    const { client } = await connect(at(bridge, 'fixture'));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
  });

  it('never lets a session cross to another server: its id is unknown there', async () => {
    const bridge = await startBridge(['--config', configFile(SERVERS)], []);
    const session = await rawInitialize(at(bridge, 'fixture'));
    const headers = { ...MCP_HEADERS, 'mcp-session-id': session };
    expect((await rawRequest(at(bridge, 'everything'), { headers, body: call(2, 'echo') })).status).toBe(404);
    expect((await rawRequest(at(bridge, 'fixture'), { headers, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'mine' } } }) })).body).toContain('mine');
  });

  it('hides filtered tools from every listing and refuses their calls before they reach the child, also after list_changed', async () => {
    const bridge = await startBridge(['--config', configFile(SERVERS)], []);
    const changed: unknown[] = [];
    const { client, transport } = await connect(at(bridge, 'fixture'), {}, (c) =>
      c.setNotificationHandler(ToolListChangedNotificationSchema, (n) => void changed.push(n)),
    );
    const names = async () => (await client.listTools()).tools.map((tool) => tool.name).sort();
    // The allow list shows four, minus the denied delete_everything; the fixture has many more.
    expect(await names()).toEqual(['calls', 'echo', 'whoami']);
    for (const hidden of ['delete_everything', 'crash']) {
      const refused = await rawRequest(at(bridge, 'fixture'), {
        headers: { ...MCP_HEADERS, 'mcp-session-id': transport.sessionId as string, 'mcp-protocol-version': '2025-11-25' },
        body: call(90, hidden),
      });
      expect(refused.body).toContain('"code":-32602');
      expect(refused.body).toContain(`Unknown tool: ${hidden}`);
    }
    // The child saw only the calls the filter let through.
    expect(JSON.parse(textOf(await client.callTool({ name: 'calls', arguments: {} })))).toEqual(['calls']);
    // The fixture registers "late" once initialized, with a list_changed: the new listing is filtered too.
    await waitFor(() => changed.length > 0 || undefined, { what: 'tools/list_changed' });
    expect(await names()).toEqual(['calls', 'echo', 'whoami']);

    const everything = (await connect(at(bridge, 'everything'))).client;
    const listed = (await everything.listTools()).tools.map((tool) => tool.name);
    expect(listed).toContain('echo');
    expect(listed.filter((name) => name === 'get-env' || name.startsWith('trigger-'))).toEqual([]);
    await expect(everything.callTool({ name: 'get-env', arguments: {} })).rejects.toThrow(/Unknown tool: get-env/);
  });

  it('runs a server with "shared": true from one child, and the others from one child per session', async () => {
    const bridge = await startBridge(['--config', configFile(SERVERS)], []);
    const pids = async (name: string) => {
      const seen = [];
      for (let i = 0; i < 2; i++) {
        const { client } = await connect(at(bridge, name));
        seen.push(JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).pid);
        await client.close();
      }
      return new Set(seen).size;
    };
    expect(await pids('solo')).toBe(1);
    expect(await pids('fixture')).toBe(2);
  });

  it("caps a server's sessions on their own, and labels its metrics and logs with its name", async () => {
    const servers = { a: { command: node, args: [fixtureScript], maxSessions: 1 }, b: { command: node, args: [fixtureScript] } };
    const bridge = await startBridge(['--config', configFile(servers), '--max-sessions', '2', '--metrics-listen', '127.0.0.1:0'], []);
    const busy = await connect(at(bridge, 'a'));
    // A call in flight keeps the session from being evicted.
    const hanging = busy.client.callTool({ name: 'hang', arguments: {} }).catch(() => undefined);
    const second = await rawRequest(at(bridge, 'a'), { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(second.status).toBe(503);
    expect(second.body).toContain('all 1 session of server \\"a\\" is busy');
    const b = await connect(at(bridge, 'b'));
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'b' } }))).toBe('b');
    const metricsUrl = await waitFor(() => /metrics on (\S+)/.exec(bridge.stdout())?.[1], { what: 'the metrics URL' });
    const text = await (await fetch(metricsUrl)).text();
    expect(text).toMatch(/^mcp_bridge_sessions_active\{server="a"\} 1$/m);
    expect(text).toMatch(/^mcp_bridge_sessions_active\{server="b"\} 1$/m);
    expect(text).toMatch(/^mcp_bridge_rejections_total\{server="a",reason="cap"\} 1$/m);
    const started = await bridge.waitForLog((line) => line.msg === 'session started' && line.server === 'b');
    expect(started.command).toBe(node);
    await busy.transport.close();
    await hanging;
  });

  it('asks for the token of a server that names its own token file, and only that one', async () => {
    const tokens = join(scratch, 'tokens-locked');
    writeFileSync(tokens, 'locked-token\n');
    const servers = { locked: { command: node, args: [fixtureScript], authTokenFile: tokens }, open: { command: node, args: [fixtureScript] } };
    const bridge = await startBridge(['--config', configFile(servers)], []);
    const init = (name: string, token?: string) =>
      rawRequest(at(bridge, name), { headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(INIT_BODY) });
    expect((await init('locked')).status).toBe(401);
    expect((await init('locked', 'wrong')).status).toBe(401);
    expect((await init('locked', 'locked-token')).status).toBe(200);
    expect((await init('open')).status).toBe(200);
  });

  it('also serves the only server of a file at --path', async () => {
    const bridge = await startBridge(['--config', configFile({ solo: SERVERS.fixture })], []);
    const { client } = await connect(new URL('/mcp', bridge.url).href);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'at /mcp' } }))).toBe('at /mcp');
  });

  it('with --oauth, issues tokens for one server that the others refuse, and describes each server by its own metadata', async () => {
    const owner = await makeOwner();
    const servers = { a: { command: node, args: [fixtureScript] }, b: { command: node, args: [fixtureScript] } };
    const oauth = await startOAuthBridge(owner, ['--config', configFile(servers)], []);
    const urlOf = (name: string) => `${oauth.origin}/servers/${name}/mcp`;
    const { access } = await grantTokens({ ...oauth, url: urlOf('a') }, owner.passphrase);
    const init = (name: string) =>
      rawRequest(urlOf(name), { headers: { ...MCP_HEADERS, authorization: `Bearer ${access}` }, body: JSON.stringify(INIT_BODY) });
    expect((await init('a')).status).toBe(200);
    const other = await init('b');
    expect(other.status).toBe(401);
    expect(other.headers['www-authenticate']).toContain(`resource_metadata="${oauth.origin}/.well-known/oauth-protected-resource/servers/b/mcp"`);
    const metadata = (await (await fetch(`${oauth.origin}/.well-known/oauth-protected-resource/servers/b/mcp`)).json()) as { resource: string };
    expect(metadata.resource).toBe(urlOf('b'));
    // The root form names no one server when there are several.
    expect((await fetch(`${oauth.origin}/.well-known/oauth-protected-resource`)).status).toBe(404);
  });
});
