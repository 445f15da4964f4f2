/** The endpoint's answers to every kind of request, good and bad, with the spec's status codes. */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startBridge, stopAllBridges, taggedProcesses, waitFor, type Bridge } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, rawInitialize, rawRequest } from '../helpers/client.js';
import { loggedSessionId } from '../../src/session/session-id.js';

let bridge: Bridge;
beforeAll(async () => {
  bridge = await startBridge(['--max-body-size', String(64 * 1024)]);
});
afterAll(stopAllBridges);

const init = JSON.stringify(INIT_BODY);
const withSession = (id: string, extra: Record<string, string> = {}) => ({ ...MCP_HEADERS, 'mcp-session-id': id, ...extra });

describe('requests without a session', () => {
  it('answers a non-initialize POST with 400 and the SDK -32000 body (dual-era clients fall back to initialize)', async () => {
    const response = await rawRequest(bridge.url, {
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
    });
    expect(response.status).toBe(400);
    expect(response.json().error?.code).toBe(-32000);
  });

  it('answers GET and DELETE with 400 at once', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await rawRequest(bridge.url, { method, headers: { accept: 'text/event-stream' } });
      expect(response.status).toBe(400);
      expect(response.json().error?.code).toBe(-32000);
    }
  });

  it('rejects invalid JSON with 400 -32700 and a malformed initialize with 400 -32602, spawning nothing', async () => {
    const before = taggedProcesses(bridge.tag).length;
    const bad = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: '{"jsonrpc":' });
    expect(bad.status).toBe(400);
    expect(bad.json().error?.code).toBe(-32700);
    const malformed = await rawRequest(bridge.url, {
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'initialize', params: { protocolVersion: '2025-11-25' } }),
    });
    expect(malformed.status).toBe(400);
    expect(malformed.json()).toMatchObject({ id: 3, error: { code: -32602 } });
    expect(taggedProcesses(bridge.tag).length).toBe(before);
  });
});

describe('sessions', () => {
  it('serves the path with and without a trailing slash, without redirecting', async () => {
    const response = await rawRequest(`${bridge.url}/`, { headers: MCP_HEADERS, body: init });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toContain('text/event-stream');
    expect(response.body).toContain('"result"');
  });

  it('answers an unknown session id with 404 -32001 on every method', async () => {
    for (const method of ['POST', 'GET', 'DELETE']) {
      const response = await rawRequest(bridge.url, {
        method,
        headers: withSession('00000000-0000-4000-8000-000000000000', { accept: 'application/json, text/event-stream' }),
        body: method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) : undefined,
      });
      expect(response.status).toBe(404);
      expect(response.json().error?.code).toBe(-32001);
    }
  });

  it('ends the session and its child on DELETE; the id is 404 afterwards', async () => {
    const id = await rawInitialize(bridge.url);
    const deleted = await rawRequest(bridge.url, { method: 'DELETE', headers: withSession(id) });
    expect(deleted.status).toBe(200);
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(id));
    expect(ended.reason).toBe('deleted');
    const pid = ended.childPid as number;
    expect(pid).toBeGreaterThan(0);
    expect(taggedProcesses(bridge.tag)).not.toContain(pid);
    const after = await rawRequest(bridge.url, {
      headers: withSession(id),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(after.status).toBe(404);
  });

  it('keeps the session when a second GET stream is refused with 409', async () => {
    const id = await rawInitialize(bridge.url);
    const controller = new AbortController();
    const first = await fetch(bridge.url, { headers: withSession(id, { accept: 'text/event-stream' }), signal: controller.signal });
    expect(first.status).toBe(200);
    const second = await rawRequest(bridge.url, { method: 'GET', headers: withSession(id, { accept: 'text/event-stream' }) });
    expect(second.status).toBe(409);
    controller.abort();
    const ping = await rawRequest(bridge.url, { headers: withSession(id), body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) });
    expect(ping.status).toBe(200);
    expect(ping.body).toContain('"id":9');
  });

  it('rejects an unsupported MCP-Protocol-Version with 400', async () => {
    const id = await rawInitialize(bridge.url);
    const response = await rawRequest(bridge.url, {
      headers: withSession(id, { 'mcp-protocol-version': '1999-01-01' }),
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(response.status).toBe(400);
  });

  it('answers 406 and 415 to an initialize before spawning anything', async () => {
    const counted = await startBridge(['--metrics-listen', '127.0.0.1:0']);
    // Printed right after the listening line: it may not have been read yet.
    const metricsUrl = await waitFor(() => /metrics on (\S+)/.exec(counted.stdout())?.[1], { what: 'the metrics URL' });
    const notAccepting = await rawRequest(counted.url, { headers: { 'content-type': 'application/json', accept: 'application/json' }, body: init });
    expect(notAccepting.status).toBe(406);
    const notJson = await rawRequest(counted.url, { headers: { ...MCP_HEADERS, 'content-type': 'text/plain' }, body: init });
    expect(notJson.status).toBe(415);
    const metrics = await rawRequest(metricsUrl, { method: 'GET' });
    expect(metrics.body).toMatch(/^mcp_bridge_children_spawned_total\{server="default"\} 0$/m);
    expect(taggedProcesses(counted.tag)).toEqual([]);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const id = await rawInitialize(bridge.url);
    const response = await rawRequest(bridge.url, {
      headers: withSession(id, { 'content-type': 'text/plain' }),
      body: 'ping',
    });
    expect(response.status).toBe(415);
  });
});

describe('SSE responses', () => {
  /** Resolves with the response once its head arrived; fails if it has not within `ms`. */
  async function headWithin(request: Promise<Response>, ms: number): Promise<Response> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no response head within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([request, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  it('send their head at once, before any event (no priming event without --resume)', async () => {
    const quiet = await startBridge(['--no-resume']);
    const id = await rawInitialize(quiet.url);
    const abort = new AbortController();
    onTestFinished(() => abort.abort());
    const call = await headWithin(
      fetch(quiet.url, {
        method: 'POST',
        headers: withSession(id),
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'hang', arguments: {} } }),
        signal: abort.signal,
      }),
      5000,
    );
    expect(call.status).toBe(200);
    expect(call.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const stream = await headWithin(
      fetch(quiet.url, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': id }, signal: abort.signal }),
      5000,
    );
    expect(stream.status).toBe(200);
  });
});

describe('limits and methods', () => {
  it('answers 413 with a JSON-RPC body above --max-body-size, and accepts a body just under it', async () => {
    const id = await rawInitialize(bridge.url);
    const call = (text: string) =>
      JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { text } } });
    const big = await rawRequest(bridge.url, { headers: withSession(id), body: call('x'.repeat(70 * 1024)) });
    expect(big.status).toBe(413);
    expect(big.json().error?.code).toBe(-32000);
    const fits = await rawRequest(bridge.url, { headers: withSession(id), body: call('y'.repeat(60 * 1024)) });
    expect(fits.status).toBe(200);
    expect(fits.body).toContain('y'.repeat(1000));
  });

  it('answers other methods with 405 and an Allow header', async () => {
    const response = await rawRequest(bridge.url, { method: 'PUT', headers: MCP_HEADERS, body: init });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, POST, DELETE');
    expect(response.json().error).toBeDefined();
  });

  it('reports health', async () => {
    const response = await rawRequest(bridge.url.replace(/\/mcp$/, '/healthz'), { method: 'GET' });
    expect(response.status).toBe(200);
  });
});

describe('Origin and Host', () => {
  it('refuses a foreign Origin with 403 and a JSON-RPC error without id', async () => {
    const response = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, origin: 'https://evil.example.com' }, body: init });
    expect(response.status).toBe(403);
    const body = response.json();
    expect(body.error?.code).toBe(-32000);
    expect('id' in body).toBe(false);
  });

  it('accepts no Origin, claude.ai, claude.com and loopback origins', async () => {
    for (const origin of [undefined, 'https://claude.ai', 'https://claude.com', 'http://localhost:6274']) {
      const headers: Record<string, string> = { ...MCP_HEADERS };
      if (origin) headers.origin = origin;
      const response = await rawRequest(bridge.url, { headers, body: init });
      expect(response.status, String(origin)).toBe(200);
      if (origin) expect(response.headers['access-control-allow-origin']).toBe(origin);
    }
  });

  it('refuses a DNS-rebinding Host on a loopback bind, accepts loopback names on any port', async () => {
    const evil = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, host: 'evil.example.com' }, body: init });
    expect(evil.status).toBe(403);
    for (const host of ['localhost:1234', '127.0.0.1', '[::1]:80']) {
      const ok = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, host }, body: init });
      expect(ok.status, host).toBe(200);
    }
  });

  it('answers a CORS preflight from an allowed origin', async () => {
    const response = await rawRequest(bridge.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://claude.ai', 'access-control-request-method': 'POST', 'access-control-request-headers': 'mcp-session-id' },
    });
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe('https://claude.ai');
    expect(String(response.headers['access-control-allow-headers']).toLowerCase()).toContain('mcp-session-id');
  });
});

describe('--allowed-host', () => {
  it('lets the tunnel hostname through on a loopback bind', async () => {
    const tunnel = await startBridge(['--allowed-host', 'mcp.example.com']);
    const ok = await rawRequest(tunnel.url, { headers: { ...MCP_HEADERS, host: 'mcp.example.com' }, body: init });
    expect(ok.status).toBe(200);
    const other = await rawRequest(tunnel.url, { headers: { ...MCP_HEADERS, host: 'other.example.com' }, body: init });
    expect(other.status).toBe(403);
  });
});
