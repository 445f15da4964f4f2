/** A long call survives a dropped connection: the client resumes with Last-Event-ID and misses nothing. */
import { afterEach, describe, expect, it } from 'vitest';
import { EVERYTHING, startBridge, stopAllBridges } from '../helpers/bridge.js';
import { connect, rawInitialize, rawRequest, MCP_HEADERS, textOf } from '../helpers/client.js';
import { startProxy, type CuttableProxy } from '../helpers/tcp-proxy.js';

const proxies: CuttableProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await stopAllBridges();
});

async function cutMidCall(command: string[] | undefined, call: { name: string; arguments: Record<string, unknown> }, cutAfter: number) {
  const bridge = await startBridge([], command);
  const proxy = await startProxy(bridge.url);
  proxies.push(proxy);
  const { client } = await connect(proxy.url);
  const progress: number[] = [];
  let cut = 0;
  const result = await client.callTool(call, undefined, {
    timeout: 30_000,
    onprogress: (p) => {
      progress.push(p.progress);
      if (progress.length === cutAfter) cut = proxy.cutAll();
    },
  });
  return { progress, cut, result, bridge };
}

describe('resumable streams', () => {
  it('delivers every remaining progress notification and the result after the connection is cut', async () => {
    const { progress, cut, result, bridge } = await cutMidCall(undefined, { name: 'slow', arguments: { steps: 8, stepMs: 150 } }, 3);
    expect(cut).toBeGreaterThan(0);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(textOf(result)).toBe('done after 8 steps');
    expect(bridge.logs.filter((l) => l.msg === 'session ended')).toEqual([]);
  });

  it('does the same for server-everything trigger-long-running-operation', async () => {
    const { progress, cut, result } = await cutMidCall(
      EVERYTHING,
      { name: 'trigger-long-running-operation', arguments: { duration: 1.6, steps: 8 } },
      2,
    );
    expect(cut).toBeGreaterThan(0);
    expect(progress).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(textOf(result)).toContain('Long running operation completed');
  });

  it('primes SSE streams with an event id and a retry interval; --no-resume turns that off', async () => {
    const on = await startBridge([]);
    const sessionOn = await rawInitialize(on.url);
    const primed = await rawRequest(on.url, {
      headers: { ...MCP_HEADERS, 'mcp-session-id': sessionOn, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(primed.body).toMatch(/^id: [^\n]+:\d+\nretry: 1000\ndata: \n/);
    // Every event has an id; the answer is among them (a list_changed of the fixture's may come first).
    const events = [...primed.body.matchAll(/event: message\nid: [^\n]+:\d+\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]));
    expect(events).toContainEqual({ jsonrpc: '2.0', id: 2, result: {} });

    const off = await startBridge(['--no-resume']);
    const sessionOff = await rawInitialize(off.url);
    const plain = await rawRequest(off.url, {
      headers: { ...MCP_HEADERS, 'mcp-session-id': sessionOff, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(plain.body).not.toMatch(/^id:/m);
    expect(plain.body).toContain('"id":2');
  });

  it('refuses to resume from an event id of another session', async () => {
    const bridge = await startBridge([]);
    const a = await rawInitialize(bridge.url);
    const b = await rawInitialize(bridge.url);
    const response = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, 'mcp-session-id': a, 'mcp-protocol-version': '2025-11-25' }, body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }) });
    const eventId = /^id: (\S+)/m.exec(response.body)?.[1];
    expect(eventId).toBeDefined();
    const replay = await rawRequest(bridge.url, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'mcp-session-id': b, 'last-event-id': eventId as string },
    });
    expect(replay.status).toBe(400);
  });
});
