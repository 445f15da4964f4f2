/**
 * One node among several, without a balancer: session ids carry the node, every response names it, the
 * peer link takes only requests with the secret and never passes one on twice, and a draining node
 * finishes its calls but takes no new session.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/parse-args.js';
import { freePort, startBridge, stopAllBridges, waitFor, type Bridge } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { modernRequest } from '../helpers/modern.js';

const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-peers-'));
const secret = (name: string, value: string) => {
  const path = join(scratch, name);
  writeFileSync(path, `${value}\n`);
  return path;
};
const SECRET = 'a8d4c2e6f0b1a3c5e7d9f1b3a5c7e9d1f3b5a7c9';
const secretFile = secret('secret', SECRET);
const otherSecretFile = secret('other', 'b9e5d3f7a1c2b4d6f8e0a2c4b6d8f0a2c4e6b8d0');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(stopAllBridges);

const toolCall = (id: number, name: string, args: Record<string, unknown> = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

const withSession = (session: string, extra: Record<string, string> = {}) => ({ ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25', ...extra });

/** Two nodes that know each other; `bSecret` lets a test give node b another secret than a's. */
async function pair(bSecret = secretFile): Promise<{ a: Bridge; b: Bridge }> {
  const [portA, portB] = [await freePort(), await freePort()];
  const [a, b] = await Promise.all([
    startBridge(['--port', String(portA), '--node-id', 'a', '--peer', `b=http://127.0.0.1:${portB}`, '--peer-secret-file', secretFile]),
    startBridge(['--port', String(portB), '--node-id', 'b', '--peer', `a=http://127.0.0.1:${portA}`, '--peer-secret-file', bSecret]),
  ]);
  return { a, b };
}

/** The tools the fixture behind a session has been called with (this question aside), asked on the session's own node. */
async function callsOf(url: string, session: string): Promise<string[]> {
  const answer = await rawRequest(url, { headers: withSession(session), body: toolCall(99, 'calls') });
  const data = answer.body.split('\n').find((line) => line.startsWith('data: {'));
  const names = JSON.parse(textOf((JSON.parse(data?.slice(6) ?? '{}') as { result?: unknown }).result ?? {}) || '[]') as string[];
  return names.filter((name) => name !== 'calls');
}

describe('the node id', () => {
  it('starts every session id, and every response names the node', async () => {
    const bridge = await startBridge(['--node-id', 'n7']);
    const init = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(init.headers['mcp-session-id']).toMatch(/^n7-[0-9a-f]{32}$/);
    expect(init.headers['x-mcp-bridge-node']).toBe('n7');
    for (const url of [new URL('/healthz', bridge.url), new URL('/nowhere', bridge.url), bridge.url]) {
      const answer = await rawRequest(String(url), { method: 'GET', headers: { accept: 'text/event-stream' } });
      expect(answer.headers['x-mcp-bridge-node'], String(url)).toBe('n7');
    }
    expect(await (await fetch(new URL('/readyz', bridge.url))).json()).toEqual({ status: 'ready', node: 'n7' });
  });

  it('is random without --node-id: six lowercase letters and digits', async () => {
    const bridge = await startBridge([]);
    const id = await rawInitialize(bridge.url);
    expect(id).toMatch(/^[a-z0-9]{6}-[0-9a-f]{32}$/);
  });

  it('labels every metric with the node when given', async () => {
    const bridge = await startBridge(['--node-id', 'n7', '--metrics-listen', '127.0.0.1:0']);
    const metricsUrl = await waitFor(() => /metrics on (\S+)/.exec(bridge.stdout())?.[1], { what: 'the metrics URL' });
    const text = await (await fetch(metricsUrl)).text();
    expect(text).toContain('mcp_bridge_sessions_active{server="default",node="n7"} 0');
  });

  it('refuses bad node ids, peers and secrets with a message naming the option', async () => {
    const refused = async (args: string[]) => parseArgs(args, { PATH: process.env.PATH }).then(() => 'accepted', (error: Error) => error.message);
    expect(await refused(['--node-id', 'A-1', '--', 'x'])).toMatch(/--node-id must be 1 to 16 lowercase letters and digits, got "A-1"/);
    expect(await refused(['--node-id', 'a', '--peer', 'b=http://10.0.0.2:8080', '--', 'x'])).toMatch(/--peer needs --peer-secret-file/);
    expect(await refused(['--node-id', 'a', '--peer', 'a=http://10.0.0.2:8080', '--peer-secret-file', secretFile, '--', 'x'])).toMatch(/--peer a is this node's own id/);
    expect(await refused(['--peer', 'b=http://10.0.0.2:8080/mcp', '--peer-secret-file', secretFile, '--', 'x'])).toMatch(/--peer b: the URL must be http\(s\):\/\/HOST:PORT with no path/);
    expect(await refused(['--peer', 'b:8080', '--peer-secret-file', secretFile, '--', 'x'])).toMatch(/--peer must be NODE=URL/);
    const short = await startBridge(['--peer-secret-file', secret('short', 'tooshort')], undefined, { expectListening: false });
    expect(await short.exited).toBe(2);
  });
});

describe('the peer link', () => {
  it('passes a request for another node\'s session there, and answers 404 for a node that is unknown or a session that is not there', async () => {
    const { a, b } = await pair();
    const session = await rawInitialize(b.url);
    const through = await rawRequest(a.url, { headers: withSession(session), body: toolCall(1, 'echo', { text: 'via a' }) });
    expect(through.status).toBe(200);
    expect(through.body).toContain('via a');
    expect(through.headers['x-mcp-bridge-node']).toBe('b');
    for (const forged of ['zz-0123456789abcdef0123456789abcdef', 'b-0123456789abcdef0123456789abcdef', 'nodash']) {
      const answer = await rawRequest(a.url, { headers: withSession(forged), body: toolCall(2, 'echo', { text: 'x' }) });
      expect(answer.status, forged).toBe(404);
    }
    expect(await callsOf(b.url, session)).toEqual(['echo']);
  });

  it('survives a client that leaves in the middle of a body it was passing on', async () => {
    const { a, b } = await pair();
    const session = await rawInitialize(b.url);
    const { hostname, port, pathname } = new URL(a.url);
    const socket = connectTcp(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: ${session}\r\nContent-Length: 1000\r\n\r\n{"jsonrpc":`);
    await waitFor(() => a.logs.some((line) => line.msg === 'passed to peer'), { what: 'the request to be passed on' });
    socket.destroy();
    // Both nodes go on serving, and the session too.
    const after = await rawRequest(a.url, { headers: withSession(session), body: toolCall(1, 'echo', { text: 'still' }) });
    expect(after.body).toContain('still');
    expect(a.process.exitCode).toBeNull();
    expect(b.process.exitCode).toBeNull();
  });

  it('refuses a request posing as a peer (a wrong secret, or one at a node that has none), before it reaches a child', async () => {
    const { b } = await pair();
    const session = await rawInitialize(b.url);
    const posing = await rawRequest(b.url, {
      headers: withSession(session, { 'x-mcp-bridge-peer': 'guessed-secret-guessed-secret-guessed', 'x-mcp-bridge-client': '192.0.2.1' }),
      body: toolCall(1, 'echo', { text: 'forged' }),
    });
    expect(posing.status).toBe(403);
    const lone = await startBridge([]);
    const loneSession = await rawInitialize(lone.url);
    const atLone = await rawRequest(lone.url, { headers: withSession(loneSession, { 'x-mcp-bridge-peer': SECRET, 'x-mcp-bridge-client': '192.0.2.1' }), body: toolCall(1, 'echo', { text: 'x' }) });
    expect(atLone.status).toBe(403);
    expect(await callsOf(b.url, session)).toEqual([]);
    expect(await callsOf(lone.url, loneSession)).toEqual([]);
  });

  it('between nodes with different secrets, passes nothing to the child', async () => {
    const { a, b } = await pair(otherSecretFile);
    const session = await rawInitialize(b.url);
    const through = await rawRequest(a.url, { headers: withSession(session), body: toolCall(1, 'echo', { text: 'x' }) });
    expect(through.status).toBe(403);
    expect(await callsOf(b.url, session)).toEqual([]);
  });

  it('never passes on a request that came from a peer: a session of the sender is not found here, and nothing loops', async () => {
    const { a, b } = await pair();
    const session = await rawInitialize(a.url);
    const bounced = await rawRequest(b.url, {
      headers: withSession(session, { 'x-mcp-bridge-peer': SECRET, 'x-mcp-bridge-client': '127.0.0.1' }),
      body: toolCall(1, 'echo', { text: 'loop?' }),
    });
    expect(bounced.status).toBe(404);
    expect(b.logs.filter((line) => line.msg === 'passed to peer')).toEqual([]);
    expect(await callsOf(a.url, session)).toEqual([]);
  });

  it('believes X-Mcp-Bridge-Client only from a peer: a client cannot pick its address with it', async () => {
    const bridge = await startBridge(['--sessions-per-minute', '1']);
    await rawInitialize(bridge.url);
    const spoofed = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, 'x-mcp-bridge-client': '198.51.100.7' }, body: JSON.stringify(INIT_BODY) });
    expect(spoofed.status).toBe(429);
  });
});

describe('2026-07-28 calls across nodes', () => {
  it('a retry that reaches another node is passed to the node that parked the call', async () => {
    const { a, b } = await pair();
    const call = { name: 'elicit', arguments: { message: 'Who?' } };
    const asking = { elicitation: {} };
    const parked = await modernRequest(a.url, 'tools/call', call, { capabilities: asking });
    expect(parked.headers['x-mcp-bridge-node']).toBe('a');
    const { inputRequests, requestState } = parked.answer.result as { inputRequests: object; requestState: string };
    const key = Object.keys(inputRequests)[0];
    const retry = await modernRequest(b.url, 'tools/call', { ...call, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } }, requestState }, { capabilities: asking });
    expect(retry.headers['x-mcp-bridge-node']).toBe('a');
    expect(textOf(retry.answer.result)).toBe('accept: {"name":"Ada"}');
    // A state naming no known node is served (and refused) where it landed.
    const forged = requestState.replace(/^mcp-bridge\.1\.[^.]+/, `mcp-bridge.1.${Buffer.from(JSON.stringify({ n: 'zz', c: 'x', r: 1, e: Date.now() + 1e6 })).toString('base64url')}`);
    const stray = await modernRequest(b.url, 'tools/call', { ...call, inputResponses: {}, requestState: forged }, { capabilities: asking });
    expect([stray.headers['x-mcp-bridge-node'], stray.answer.error?.code]).toEqual(['b', -32602]);
  });
});

describe('draining', () => {
  it('on SIGTERM with --drain-timeout, finishes the calls in flight, takes no new session, then exits', async () => {
    const bridge = await startBridge(['--drain-timeout', '20']);
    const { client } = await connect(bridge.url);
    const idle = await rawInitialize(bridge.url);
    let progress = 0;
    const call = client.callTool({ name: 'slow', arguments: { steps: 40, stepMs: 50 } }, undefined, { onprogress: () => void progress++ });
    await waitFor(() => progress > 0, { what: 'the call to be under way' });
    bridge.process.kill('SIGTERM');
    await bridge.waitForLog((line) => line.msg.startsWith('draining'));
    // The idle session ends at once; the busy one keeps its call.
    await bridge.waitForLog((line) => line.msg === 'session ended' && line.reason === 'drained');
    expect((await rawRequest(bridge.url, { headers: withSession(idle), body: toolCall(1, 'echo', { text: 'x' }) })).status).toBe(404);
    expect((await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) })).status).toBe(503);
    expect((await fetch(new URL('/readyz', bridge.url))).status).toBe(503);
    expect(textOf(await call)).toBe('done after 40 steps');
    expect(await bridge.exited).toBe(0);
    expect(bridge.logs.filter((line) => line.msg === 'session ended').map((line) => line.reason)).toEqual(['drained', 'drained']);
  });
});
