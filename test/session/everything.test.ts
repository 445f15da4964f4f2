/** @modelcontextprotocol/server-everything, a real third-party server, through the bridge. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';

afterEach(stopAllBridges);

describe('server-everything through the bridge', () => {
  it('streams every progress notification of trigger-long-running-operation before the result', async () => {
    const bridge = await startBridge([], EVERYTHING);
    const { client } = await connect(bridge.url);
    const progress: number[] = [];
    let progressWhenResultArrived = -1;
    const result = await client
      .callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps: 5 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      })
      .then((r) => {
        progressWhenResultArrived = progress.length;
        return r;
      });
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(progressWhenResultArrived).toBe(5);
    expect(textOf(result)).toContain('Long running operation completed');
  });

  it('answers its unsolicited roots/list, and sampling and elicitation inside calls', async () => {
    const bridge = await startBridge([], EVERYTHING);
    let rootsRequests = 0;
    let listChanged = 0;
    const { client } = await connect(bridge.url, { sampling: {}, elicitation: { form: {} }, roots: {} }, (c) => {
      c.setRequestHandler(ListRootsRequestSchema, async () => {
        rootsRequests++;
        return { roots: [{ uri: 'file:///srv/project', name: 'project' }] };
      });
      c.setRequestHandler(CreateMessageRequestSchema, async () => ({
        role: 'assistant',
        model: 'test-model',
        content: { type: 'text', text: 'sampled-by-test' },
      }));
      c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
      c.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
    });
    // Sent 350 ms after `initialized`, before or after the GET stream opens: it must arrive either way.
    await waitFor(() => rootsRequests > 0, { what: 'the unsolicited roots/list' });
    await waitFor(() => listChanged > 0, { what: 'tools/list_changed after initialize' });
    expect(textOf(await client.callTool({ name: 'get-roots-list', arguments: {} }))).toContain('file:///srv/project');

    const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 5 } });
    expect(JSON.stringify(sampled)).toContain('sampled-by-test');
    const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
    expect(JSON.stringify(elicited)).toMatch(/decline/i);
  });

  it('delivers resource subscription updates', async () => {
    const bridge = await startBridge([], EVERYTHING);
    const updates: string[] = [];
    const { client } = await connect(bridge.url, {}, (c) =>
      c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri)),
    );
    const uri = 'demo://resource/static/document/architecture.md';
    await client.subscribeResource({ uri });
    await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
    await waitFor(() => updates.includes(uri), { timeoutMs: 12_000, what: 'a resources/updated notification' });
  });
});
