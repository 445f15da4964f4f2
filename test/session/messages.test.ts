/** Every kind of message crosses the bridge, in both directions, on the right stream. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';

afterEach(stopAllBridges);

describe('fixture server through the bridge', () => {
  it('lists and calls tools', async () => {
    const bridge = await startBridge([]);
    const { client } = await connect(bridge.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'slow', 'sample', 'elicit', 'roots']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo' } }))).toBe('héllo');
    await client.close();
  });

  it('delivers every progress notification before the result', async () => {
    const bridge = await startBridge([]);
    const { client } = await connect(bridge.url);
    const progress: number[] = [];
    let resultSeenAfter = -1;
    const result = await client.callTool({ name: 'slow', arguments: { steps: 5, stepMs: 20 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    resultSeenAfter = progress.length;
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(resultSeenAfter).toBe(5);
    expect(textOf(result)).toBe('done after 5 steps');
  });

  it('carries sampling, elicitation and roots requests to the client and the answers back', async () => {
    const bridge = await startBridge([]);
    const { client } = await connect(bridge.url, { sampling: {}, elicitation: { form: {} }, roots: {} }, (c) => {
      c.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
        role: 'assistant',
        model: 'test-model',
        content: { type: 'text', text: `echo of ${(request.params.messages[0].content as { text: string }).text}` },
      }));
      c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
      c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///work', name: 'work' }] }));
    });
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe('sampled: echo of hi');
    expect(textOf(await client.callTool({ name: 'elicit', arguments: { message: 'who?' } }))).toBe('accept: {"name":"Ada"}');
    expect(textOf(await client.callTool({ name: 'roots', arguments: {} }))).toBe('file:///work');
  });

  it('delivers logging notifications sent during a call', async () => {
    const bridge = await startBridge([]);
    const logs: unknown[] = [];
    const { client } = await connect(bridge.url, {}, (c) =>
      c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data)),
    );
    await client.callTool({ name: 'log', arguments: { count: 3 } });
    expect(logs).toEqual(['log 1', 'log 2', 'log 3']);
  });

  it('keeps a list_changed sent right after initialize until the GET stream opens', async () => {
    const bridge = await startBridge([]);
    let changed = 0;
    const { client } = await connect(bridge.url, {}, (c) =>
      c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++),
    );
    await waitFor(() => changed > 0, { what: 'tools/list_changed' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('late');
  });

  it('delivers resource updates to a subscriber', async () => {
    const bridge = await startBridge([]);
    const updates: string[] = [];
    const { client } = await connect(bridge.url, {}, (c) =>
      c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri)),
    );
    await client.subscribeResource({ uri: 'fixture://counter' });
    await client.callTool({ name: 'touch', arguments: {} });
    await waitFor(() => updates.length > 0, { what: 'resources/updated' });
    expect(updates).toEqual(['fixture://counter']);
    const read = await client.readResource({ uri: 'fixture://counter' });
    expect(read.contents[0]).toMatchObject({ text: '1' });
  });
});
