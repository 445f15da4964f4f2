/** --shared: one child for every session, with ids and progress tokens kept apart. */
import { afterEach, describe, expect, it } from 'vitest';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startBridge, stopAllBridges, taggedProcesses, waitFor } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';

afterEach(stopAllBridges);

const pidOf = async (client: Awaited<ReturnType<typeof connect>>['client']) =>
  JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).pid as number;

describe('shared child', () => {
  it('serves two sessions from one child; interleaved calls and progress never cross', async () => {
    const bridge = await startBridge(['--shared']);
    const [a, b] = await Promise.all([connect(bridge.url), connect(bridge.url)]);
    expect(await pidOf(a.client)).toBe(await pidOf(b.client));
    expect(taggedProcesses(bridge.tag)).toHaveLength(1);
    const progressA: number[] = [];
    const progressB: number[] = [];
    const [resultA, resultB, echoA, echoB] = await Promise.all([
      a.client.callTool({ name: 'slow', arguments: { steps: 4, stepMs: 30 } }, undefined, { onprogress: (p) => progressA.push(p.progress) }),
      b.client.callTool({ name: 'slow', arguments: { steps: 6, stepMs: 20 } }, undefined, { onprogress: (p) => progressB.push(p.progress) }),
      a.client.callTool({ name: 'echo', arguments: { text: 'from a' } }),
      b.client.callTool({ name: 'echo', arguments: { text: 'from b' } }),
    ]);
    expect(progressA).toEqual([1, 2, 3, 4]);
    expect(progressB).toEqual([1, 2, 3, 4, 5, 6]);
    expect([textOf(resultA), textOf(resultB), textOf(echoA), textOf(echoB)]).toEqual([
      'done after 4 steps',
      'done after 6 steps',
      'from a',
      'from b',
    ]);
  });

  it('answers each initialize in the protocol version that session asked for', async () => {
    const bridge = await startBridge(['--shared']);
    const { transport } = await connect(bridge.url);
    expect(transport.protocolVersion).toBe('2025-11-25');
    const older = await fetch(bridge.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0', id: 1, method: 'initialize',
        params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'old', version: '1' } },
      }),
    });
    expect(await older.text()).toContain('"protocolVersion":"2025-03-26"');
  });

  it('delivers a cancellation to the right request', async () => {
    const bridge = await startBridge(['--shared']);
    const [a, b] = await Promise.all([connect(bridge.url), connect(bridge.url)]);
    const abort = new AbortController();
    let progressed = false;
    const cancelled = a.client
      .callTool({ name: 'slow', arguments: { steps: 50, stepMs: 101 } }, undefined, { signal: abort.signal, onprogress: () => (progressed = true) })
      .catch((error: Error) => error.message);
    const kept = b.client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 102 } });
    await waitFor(() => progressed, { what: 'the call to be under way' });
    abort.abort('user changed their mind');
    await bridge.waitForLog((l) => l.msg === 'shared child stderr' && l.stderr === 'slow(101): cancelled');
    expect(await cancelled).toMatch(/changed their mind|abort/i);
    expect(textOf(await kept)).toBe('done after 3 steps');
    expect(bridge.logs.some((l) => l.stderr === 'slow(102): cancelled')).toBe(false);
  });

  it('forwards a server request only when one session has calls in flight, else refuses it', async () => {
    const bridge = await startBridge(['--shared']);
    const answer = (c: Awaited<ReturnType<typeof connect>>['client']) =>
      c.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled' } }));
    const a = await connect(bridge.url, { sampling: {} }, answer);
    const b = await connect(bridge.url, { sampling: {} }, answer);
    expect(textOf(await a.client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe('sampled: sampled');
    let progressed = false;
    const busy = b.client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 300 } }, undefined, { onprogress: () => (progressed = true) });
    await waitFor(() => progressed, { what: 'a call in flight in the other session' });
    const ambiguous = await a.client.callTool({ name: 'sample', arguments: { prompt: 'hi' } });
    expect(ambiguous.isError).toBe(true);
    expect(textOf(ambiguous)).toMatch(/cannot attribute sampling\/createMessage/);
    await busy;
  });

  it('fails calls in flight when the child dies, restarts it, and the sessions carry on', async () => {
    const bridge = await startBridge(['--shared']);
    const [a, b] = await Promise.all([connect(bridge.url), connect(bridge.url)]);
    const before = await pidOf(a.client);
    await expect(a.client.callTool({ name: 'crash', arguments: { code: 5 } })).rejects.toThrow(/exit code 5/);
    await bridge.waitForLog((l) => l.msg === 'shared child started' && l.childPid !== before);
    const after = await waitFor(async () => pidOf(b.client).catch(() => undefined), { what: 'the restarted child to answer' });
    expect(after).not.toBe(before);
    expect(await pidOf(a.client)).toBe(after);
    expect(bridge.logs.filter((l) => l.msg === 'session ended')).toEqual([]);
    expect(taggedProcesses(bridge.tag)).toEqual([after]);
  });
});
