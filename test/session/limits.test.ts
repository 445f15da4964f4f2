/** Each limit answers with a clear JSON-RPC error and leaves the bridge serving. */
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { startBridge, stopAllBridges } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { loggedSessionId } from '../../src/session/session-id.js';

afterEach(stopAllBridges);
const init = JSON.stringify(INIT_BODY);
const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });

describe('rate limits', () => {
  it('answers 429 with Retry-After past --requests-per-minute', async () => {
    const bridge = await startBridge(['--requests-per-minute', '4']);
    const id = await rawInitialize(bridge.url); // two requests: initialize, initialized
    const headers = { ...MCP_HEADERS, 'mcp-session-id': id };
    expect((await rawRequest(bridge.url, { headers, body: ping(2) })).status).toBe(200);
    expect((await rawRequest(bridge.url, { headers, body: ping(3) })).status).toBe(200);
    const limited = await rawRequest(bridge.url, { headers, body: ping(4) });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json().error?.message).toMatch(/Too Many Requests/);
  });

  it('answers 429 past --sessions-per-minute', async () => {
    const bridge = await startBridge(['--sessions-per-minute', '2']);
    await rawInitialize(bridge.url);
    await rawInitialize(bridge.url);
    const third = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: init });
    expect(third.status).toBe(429);
    expect(third.json()).toMatchObject({ id: 1, error: { code: -32000 } });
  });
});

describe('caps', () => {
  it('caps sessions per client: evicts its own idle session, else 429', async () => {
    const bridge = await startBridge(['--max-sessions-per-client', '1']);
    const first = await rawInitialize(bridge.url);
    const second = await rawInitialize(bridge.url);
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.reason === 'evicted' && l.session === loggedSessionId(first));
    const { client } = await connect(bridge.url); // evicts `second`, then holds its GET stream open
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(second));
    const refused = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: init });
    expect(refused.status).toBe(429);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'kept' } }))).toBe('kept');
  });

  it('caps requests in flight per session', async () => {
    const bridge = await startBridge(['--max-inflight', '2']);
    const session = await rawInitialize(bridge.url);
    const headers = { ...MCP_HEADERS, 'mcp-session-id': session };
    const call = (id: string, name: string) =>
      JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: name === 'echo' ? { text: id } : {} } });
    const abort = new AbortController();
    onTestFinished(() => abort.abort());
    // Each head arrives once the bridge has taken the call: two calls are then in flight.
    const hanging = await Promise.all(['a', 'b'].map((id) => fetch(bridge.url, { method: 'POST', headers, body: call(id, 'hang'), signal: abort.signal })));
    expect(hanging.map((r) => r.status)).toEqual([200, 200]);
    const third = await rawRequest(bridge.url, { headers, body: call('third', 'echo') });
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    expect(third.json()).toMatchObject({ id: 'third', error: { code: -32000 } });
    // A cancellation frees a place.
    const cancel = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'a' } });
    expect((await rawRequest(bridge.url, { headers, body: cancel })).status).toBe(202);
    const fourth = await rawRequest(bridge.url, { headers, body: call('fourth', 'echo') });
    expect(fourth.status).toBe(200);
    expect(fourth.body).toContain('"text":"fourth"');
  });
});

describe('--request-timeout', () => {
  it('cancels a request at the child and answers the client with a timeout error', async () => {
    // Long enough that an ordinary call never hits it on a loaded machine.
    const bridge = await startBridge(['--request-timeout', '2']);
    const { client } = await connect(bridge.url);
    await expect(client.callTool({ name: 'slow', arguments: { steps: 1, stepMs: 20_000 } }, undefined, { timeout: 10_000 })).rejects.toThrow(
      /timed out after 2 s/,
    );
    await bridge.waitForLog((l) => l.msg === 'child stderr' && /^slow\(\d+\): cancelled/.test(String(l.stderr)));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still fine' } }))).toBe('still fine');
  });
});
