/** Real clients of other projects against the bridge: the MCP Inspector CLI, mcp-remote, a dual-era probe. */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, ROOT, startBridge, stopAllBridges } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';
import { INSPECTOR, MCP_REMOTE, MCP_REMOTE_CLIENT, NODE22, runOnNode22 } from './tools.js';

afterEach(stopAllBridges);

describe('MCP Inspector CLI', () => {
  it('lists tools and calls one', async () => {
    const bridge = await startBridge([], EVERYTHING);
    const list = await runOnNode22([INSPECTOR, '--cli', bridge.url, '--transport', 'http', '--method', 'tools/list']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).tools.map((t: { name: string }) => t.name)).toContain('echo');
    const call = await runOnNode22([
      INSPECTOR, '--cli', bridge.url, '--transport', 'http',
      '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'message=through the inspector',
    ]);
    expect(call.code, call.stderr).toBe(0);
    expect(JSON.parse(call.stdout).content[0].text).toBe('Echo: through the inspector');
  });
});

describe('mcp-remote', () => {
  it("mcp-remote-client connects and lists tools and resources", async () => {
    const bridge = await startBridge([], EVERYTHING);
    // It exits when its stdin closes, so keep stdin open until it is done.
    const child = spawn(NODE22, [MCP_REMOTE_CLIENT, bridge.url], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(output).toContain('Connected to remote server using StreamableHTTPClientTransport');
    expect(output).toMatch(/"name": "echo"/);
    expect(output).toContain('Exiting OK');
  });

  it('mcp-remote as a stdio proxy: initialize, tools/list and a call through two hops', async () => {
    const bridge = await startBridge([], EVERYTHING);
    const client = new Client({ name: 'interop', version: '1.0.0' });
    const transport = new StdioClientTransport({ command: NODE22, args: [MCP_REMOTE, bridge.url, '--transport', 'http-only'], stderr: 'pipe' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('get-sum');
      const sum = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
      expect(textOf(sum)).toContain('42');
    } finally {
      await client.close();
    }
  });
});

describe('mcp-remote --protocol auto (a dual-era proxy) against --modern', () => {
  it('speaks 2026-07-28 to the bridge: a call with progress, a sampling and an elicitation round trip', async () => {
    const bridge = await startBridge(['--modern'], EVERYTHING);
    const client = new Client({ name: 'interop', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'from the client' }, model: 'm' }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { color: 'green', number: 7 } }));
    const transport = new StdioClientTransport({
      command: NODE22,
      args: [MCP_REMOTE, bridge.url, '--transport', 'http-only', '--protocol', 'auto'],
      stderr: 'pipe',
    });
    await client.connect(transport);
    try {
      const progress: number[] = [];
      const long = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(textOf(long)).toMatch(/completed/);
      // The bridge sends the last progress before the result, but mcp-remote may pass the result on first (the
      // client then drops a progress for a call that is over): only the earlier ones are certain to arrive.
      expect(progress.slice(0, 2)).toEqual([1, 2]);
      expect(textOf(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi' } }))).toContain('from the client');
      expect(textOf(await client.callTool({ name: 'trigger-elicitation-request', arguments: {} }))).toContain('green');
      // Every call above was a 2026-07-28 request: the bridge opened no 2025 session.
      expect(bridge.logs.some((line) => line.msg === 'session started')).toBe(false);
    } finally {
      await client.close();
    }
  });
});

describe('2025-era clients in their default mode, in front of a 2026-07-28-only server', () => {
  const MODERN_FIXTURE = ['node', `${ROOT}test/fixtures/modern-server.mjs`];

  it('the Inspector CLI lists its tools and calls one', async () => {
    const bridge = await startBridge([], MODERN_FIXTURE);
    const list = await runOnNode22([INSPECTOR, '--cli', bridge.url, '--transport', 'http', '--method', 'tools/list']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).tools.map((t: { name: string }) => t.name)).toContain('greet');
    const call = await runOnNode22([INSPECTOR, '--cli', bridge.url, '--transport', 'http', '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=inspected']);
    expect(call.code, call.stderr).toBe(0);
    expect(JSON.parse(call.stdout).content[0].text).toBe('inspected');
  });

  it('mcp-remote passes on progress, an elicitation and a sampling round trip', async () => {
    const bridge = await startBridge([], MODERN_FIXTURE);
    const client = new Client({ name: 'interop', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Grace' } }));
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'Hi Grace' }, model: 'm' }));
    const transport = new StdioClientTransport({ command: NODE22, args: [MCP_REMOTE, bridge.url, '--transport', 'http-only'], stderr: 'pipe' });
    await client.connect(transport);
    try {
      const progress: number[] = [];
      const slow = await client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 20 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(slow)).toBe('done after 3 steps');
      // As above: mcp-remote may pass the result on before the last progress.
      expect(progress.slice(0, 2)).toEqual([1, 2]);
      expect(textOf(await client.callTool({ name: 'greet', arguments: {} }))).toBe('Grace: Hi Grace');
    } finally {
      await client.close();
    }
  });
});

describe('dual-era clients', () => {
  it('with --no-modern, a 2026-era probe gets an answer that makes it fall back to initialize', async () => {
    const bridge = await startBridge(['--no-modern'], EVERYTHING);
    const probe = await fetch(bridge.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'server/discover',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'server/discover',
        params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } },
      }),
    });
    expect(probe.status).toBe(400);
    const body = (await probe.json()) as { error?: { code: number; data?: { supported?: unknown } } };
    // Modern servers answer -32020 (header mismatch) or -32022 with data.supported; anything else means "legacy".
    expect(body.error?.code).toBe(-32000);
    expect(body.error?.data?.supported).toBeUndefined();
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'fell back' } }))).toBe('Echo: fell back');
  });
});
