/** What the SDK's transport used to decide for us: event ids, replay per stream, versions, answers to non-requests. */
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, stopAllBridges } from '../helpers/bridge.js';
import { MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { messageOf, sseRequest } from '../helpers/sse-client.js';

afterEach(stopAllBridges);

const slow = (id: number, token: string, steps: number, stepMs: number) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { steps, stepMs }, _meta: { progressToken: token } } });
const headers = (session: string, extra: Record<string, string> = {}) => ({ ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25', ...extra });
const streamOf = (eventId: string | undefined) => eventId?.slice(0, eventId.lastIndexOf(':'));

describe('event ids and replay', () => {
  it('gives every event of a session a unique id that names its stream, and replays only that stream', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const get = sseRequest(bridge.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' } });
    const a = sseRequest(bridge.url, { method: 'POST', headers: headers(session), body: slow(10, 'a', 6, 150) });
    const b = sseRequest(bridge.url, { method: 'POST', headers: headers(session), body: slow(11, 'b', 3, 50) });
    await b.waitForEvent((e) => messageOf(e)?.id === 11);
    await a.waitForEvent((e) => messageOf(e)?.method === 'notifications/progress');
    a.close(); // cut mid-call: the stream stays resumable
    const ids = [...get.events, ...a.events, ...b.events].map((e) => e.id);
    expect(ids.every((id) => id !== undefined)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const events of [get.events, a.events, b.events]) expect(new Set(events.map((e) => streamOf(e.id))).size).toBe(1);
    expect(new Set([a, b, get].map((s) => streamOf(s.events[0].id))).size).toBe(3);

    const cursor = a.events[0].id as string; // its priming event: replay everything of stream a
    const resumed = sseRequest(bridge.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': cursor } });
    const answer = await resumed.waitForEvent((e) => messageOf(e)?.id === 10);
    expect(textOf(messageOf(answer)?.result)).toBe('done after 6 steps');
    const replayed = resumed.events.map(messageOf);
    expect(replayed.filter((m) => m?.method === 'notifications/progress').map((m) => m?.params?.progress)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(replayed.every((m) => m?.params?.progressToken !== 'b')).toBe(true);
    expect(resumed.events.every((e) => streamOf(e.id) === streamOf(cursor))).toBe(true);
    get.close();
  });

  it('refuses a Last-Event-ID that names no stream of the session with 400', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    for (const lastEventId of ['nonsense', 'unknown:1', `${'x'.repeat(8)}:99999999`]) {
      const response = await rawRequest(bridge.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'last-event-id': lastEventId } });
      expect(response.status, lastEventId).toBe(400);
    }
  });
});

describe('protocol versions and Accept', () => {
  it('assumes 2025-03-26 without MCP-Protocol-Version, refuses an unsupported one, and does not prime 2025-06-18 sessions', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const ping = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' });
    const without = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, 'mcp-session-id': session }, body: ping });
    expect(without.status).toBe(200);
    const unsupported = await rawRequest(bridge.url, { headers: headers(session, { 'mcp-protocol-version': '2099-01-01' }), body: ping });
    expect(unsupported.status).toBe(400);
    expect(unsupported.json().error?.message).toMatch(/Unsupported protocol version/);
    for (const method of ['GET', 'DELETE']) {
      const refused = await rawRequest(bridge.url, { method, headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': 'nope' } });
      expect(refused.status, method).toBe(400);
    }

    const old = await rawRequest(bridge.url, {
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'old', version: '1' } } }),
    });
    expect(old.body).not.toMatch(/^id:/m);
    const oldSession = old.headers['mcp-session-id'] as string;
    const oldPing = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, 'mcp-session-id': oldSession, 'mcp-protocol-version': '2025-06-18' }, body: ping });
    expect(oldPing.body).not.toMatch(/^id:/m);
    expect(oldPing.body).toContain('"id":3');
  });

  it('answers 406 to a GET that does not accept SSE and to a POST that does not accept both', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const get = await rawRequest(bridge.url, { method: 'GET', headers: { accept: 'application/json', 'mcp-session-id': session } });
    expect(get.status).toBe(406);
    const post = await rawRequest(bridge.url, { headers: { ...headers(session), accept: 'text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
    expect(post.status).toBe(406);
  });
});

describe('POSTs that carry no request', () => {
  it('answers notifications, client responses and batches of them with 202 and no body; a batch with requests streams every answer', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const note = { jsonrpc: '2.0', method: 'notifications/roots/list_changed' };
    const reply = { jsonrpc: '2.0', id: 'srv-1', result: {} };
    for (const body of [note, reply, [note, reply]]) {
      const response = await rawRequest(bridge.url, { headers: headers(session), body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBe(202);
      expect(response.body).toBe('');
    }
    const batch = await rawRequest(bridge.url, {
      headers: headers(session),
      body: JSON.stringify([note, { jsonrpc: '2.0', id: 20, method: 'ping' }, { jsonrpc: '2.0', id: 21, method: 'ping' }]),
    });
    expect(batch.status).toBe(200);
    expect(batch.body).toContain('"id":20');
    expect(batch.body).toContain('"id":21');
  });

  it('refuses a request id already in flight on the session with 400, and an empty batch', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const first = sseRequest(bridge.url, { method: 'POST', headers: headers(session), body: slow(7, 't', 2, 300) });
    await first.waitForEvent((e) => messageOf(e)?.method === 'notifications/progress');
    const again = await rawRequest(bridge.url, { headers: headers(session), body: slow(7, 'u', 1, 10) });
    expect(again.status).toBe(400);
    expect(again.json().error?.code).toBe(-32600);
    expect((await rawRequest(bridge.url, { headers: headers(session), body: '[]' })).status).toBe(400);
    await first.waitForEvent((e) => messageOf(e)?.id === 7);
  });
});

describe('SSE polling (--sse-poll)', () => {
  it('closes a quiet stream mid-call; the SDK client resumes it with GET and gets every message', async () => {
    const bridge = await startBridge(['--sse-poll', '0.4']);
    const { client } = await connect(bridge.url);
    const progress: number[] = [];
    const result = await client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 700 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
      timeout: 20_000,
    });
    expect(textOf(result)).toBe('done after 3 steps');
    expect(progress).toEqual([1, 2, 3]);
    // The stream was closed while quiet, and resumed from its Last-Event-ID.
    await bridge.waitForLog((l) => l.msg === 'stream resumed');
  });
});
