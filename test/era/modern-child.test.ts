/**
 * 2025-era clients in front of a child that speaks only 2026-07-28 (test/fixtures/modern-server.mjs, on the
 * v2 server SDK): the bridge finds the child's era with a probe and translates, so the 1.x SDK client sees an
 * ordinary 2025 server: handshake, tools, progress, and elicitation and sampling as server requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ROOT, startBridge, stopAllBridges } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';
import { envelope, modernClient, modernRequest, modernStream } from '../helpers/modern.js';
import { messageOf } from '../helpers/sse-client.js';

afterEach(stopAllBridges);

export const MODERN_FIXTURE = ['node', `${ROOT}test/fixtures/modern-server.mjs`];

describe('a 2026-07-28-only child', () => {
  it('is found by the probe and served to a 2025 client: handshake, tools and progress', async () => {
    const bridge = await startBridge([], MODERN_FIXTURE);
    const { client } = await connect(bridge.url);
    expect(client.getServerVersion()).toEqual({ name: 'mcp-bridge-modern-fixture', version: '2.0.0' });
    expect(client.getInstructions()).toBe('A 2026-07-28-only fixture.');
    expect(client.getServerCapabilities()?.tools).toEqual({ listChanged: true });
    await bridge.waitForLog((line) => line.msg === 'the MCP server speaks this protocol era' && line.era === '2026-07-28');
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(['echo', 'slow', 'greet']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'across the eras' } }))).toBe('across the eras');
    const progress: number[] = [];
    const slow = await client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 10 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(textOf(slow)).toBe('done after 3 steps');
    expect(progress).toEqual([1, 2, 3]);
    const read = await client.readResource({ uri: 'fixture://counter' });
    expect(read.contents[0]).toMatchObject({ uri: 'fixture://counter', text: '0' });
    // The 2026 fields stay on the child's side.
    expect(await client.ping()).toEqual({});
    await client.close();
  });

  it('turns its input_required rounds into server requests on the caller’s stream, and their answers into the retries', async () => {
    const bridge = await startBridge([], MODERN_FIXTURE);
    const asked: string[] = [];
    const { client } = await connect(bridge.url, { elicitation: {}, sampling: {} }, (c) => {
      c.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(`elicit: ${request.params.message}`);
        return { action: 'accept', content: { name: 'Ada' } };
      });
      c.setRequestHandler(CreateMessageRequestSchema, async (request) => {
        asked.push(`sample: ${JSON.stringify(request.params.messages[0].content)}`);
        return { role: 'assistant', content: { type: 'text', text: 'Hello, Ada!' }, model: 'test' };
      });
    });
    expect(textOf(await client.callTool({ name: 'greet', arguments: {} }))).toBe('Ada: Hello, Ada!');
    expect(asked).toEqual(['elicit: Your name?', 'sample: {"type":"text","text":"Greet Ada"}']);
    await client.close();
  });

  it('is probed on a pooled child too, after its warm-up', async () => {
    const bridge = await startBridge(['--pool', '1'], MODERN_FIXTURE);
    await bridge.waitForLog((line) => line.msg === 'pooled child ready');
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'pooled' } }))).toBe('pooled');
    expect(bridge.logs.some((line) => line.msg === 'the MCP server speaks this protocol era' && line.era === '2026-07-28')).toBe(true);
    await client.close();
  });

  it('fails the handshake when told it is a 2025-era server (--child-era legacy): the probe is what serves it', async () => {
    const bridge = await startBridge(['--child-era', 'legacy'], MODERN_FIXTURE);
    await expect(connect(bridge.url)).rejects.toThrow(/-32022|Unsupported protocol version/);
  });
});

describe('2026-07-28 clients in front of a 2026-07-28-only child (--modern)', () => {
  it('get its requests and answers as they are: discovery, progress, and its own input_required rounds', async () => {
    const bridge = await startBridge(['--modern'], MODERN_FIXTURE);
    const discover = await modernRequest(bridge.url, 'server/discover');
    expect(discover.answer.result).toMatchObject({ instructions: 'A 2026-07-28-only fixture.', _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-bridge-modern-fixture' } } });
    const client = await modernClient(bridge.url, 'auto');
    expect(client.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const progress: number[] = [];
    const slow = await client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 10 } }, { onprogress: (p) => progress.push(p.progress) });
    expect(textOf(slow)).toBe('done after 3 steps');
    expect(progress).toEqual([1, 2, 3]);
    // The child's own requestState goes out and comes back untouched: the greeting needs the name it holds.
    expect(textOf(await client.callTool({ name: 'greet', arguments: {} }))).toMatch(/^Ada: sampled: /);
    await client.close();
  });

  it('holds a listen stream open on the child, with the client’s own subscription id', async () => {
    const bridge = await startBridge(['--modern'], MODERN_FIXTURE);
    const params = { notifications: { toolsListChanged: true }, _meta: envelope() };
    const listen = modernStream(bridge.url, 'subscriptions/listen', params, 'mine');
    const ack = messageOf(await listen.waitForEvent((event) => messageOf(event)?.method === 'notifications/subscriptions/acknowledged'));
    expect(ack?.params?._meta).toMatchObject({ 'io.modelcontextprotocol/subscriptionId': 'mine' });
    listen.close();
  });
});
