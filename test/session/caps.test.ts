/** The session cap: a GET stream alone does not hold a place forever, and sessions count until their child is gone. */
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { startBridge, stopAllBridges, taggedProcesses, waitFor } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, rawInitialize, rawRequest } from '../helpers/client.js';
import { sseRequest } from '../helpers/sse-client.js';
import { loggedSessionId } from '../../src/session/session-id.js';

afterEach(stopAllBridges);
const init = JSON.stringify(INIT_BODY);
const from = (address: string) => ({ ...MCP_HEADERS, 'x-forwarded-for': address });

describe('sessions that only hold a GET stream', () => {
  it('are kept while busy, and evicted at the cap once quiet, from the client that holds the most', async () => {
    const bridge = await startBridge(['--max-sessions', '3', '--evict-quiet-after', '2', '--trust-proxy', '127.0.0.1/32']);
    const open = async (address: string) => {
      const response = await rawRequest(bridge.url, { headers: from(address), body: init });
      const session = response.headers['mcp-session-id'] as string;
      await rawRequest(bridge.url, { headers: { ...from(address), 'mcp-session-id': session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
      const stream = sseRequest(bridge.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': session, 'x-forwarded-for': address } });
      onTestFinished(() => stream.close());
      await stream.response;
      return session;
    };
    const heavy = [await open('198.51.100.1'), await open('198.51.100.1')];
    const light = await open('203.0.113.2');
    // At once: every session has a stream open and has just been used.
    const refused = await rawRequest(bridge.url, { headers: from('192.0.2.3'), body: init });
    expect(refused.status).toBe(503);
    // Quiet for --evict-quiet-after: a newcomer gets a place, taken from the client with two sessions.
    const admitted = await waitFor(async () => {
      const response = await rawRequest(bridge.url, { headers: from('192.0.2.3'), body: init });
      return response.status === 200 ? response : undefined;
    }, { timeoutMs: 10_000, intervalMs: 200, what: 'a place for the newcomer' });
    expect(admitted.headers['mcp-session-id']).toBeDefined();
    const evicted = await bridge.waitForLog((l) => l.msg === 'session ended' && l.reason === 'evicted');
    expect(heavy.map((id) => loggedSessionId(id))).toContain(evicted.session);
    expect(evicted.session).not.toBe(loggedSessionId(light));
  });
});

describe('sessions still ending', () => {
  it('count toward --max-sessions until their child is gone: a new session waits for the old child', async () => {
    const bridge = await startBridge(['--max-sessions', '1', '--kill-grace', '1', '--env', 'FIXTURE_IGNORE_SIGTERM=1']);
    const first = await rawInitialize(bridge.url);
    expect((await rawRequest(bridge.url, { method: 'DELETE', headers: { ...MCP_HEADERS, 'mcp-session-id': first } })).status).toBe(200);
    // Its child ignores SIGTERM, so it lives on for the grace; the next session must not start beside it.
    const second = rawInitialize(bridge.url);
    await waitFor(() => bridge.logs.some((l) => l.msg === 'session ended' && l.session === loggedSessionId(first)) || undefined, {
      what: 'the first session to end',
    });
    const id = await second;
    expect(taggedProcesses(bridge.tag).length).toBeLessThanOrEqual(1);
    // Log lines come on another pipe than the answers: wait for the new session's, then compare the order.
    await bridge.waitForLog((l) => l.msg === 'session started' && l.session === loggedSessionId(id));
    const ended = bridge.logs.findIndex((l) => l.msg === 'session ended' && l.session === loggedSessionId(first));
    const started = bridge.logs.findIndex((l) => l.msg === 'session started' && l.session === loggedSessionId(id));
    expect(ended).toBeGreaterThanOrEqual(0);
    expect(started).toBeGreaterThan(ended);
  });
});
