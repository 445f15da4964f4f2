/**
 * 2026-07-28 clients in front of a 2025-era server (--modern): discovery, stateless calls, the multi-round-trip
 * translation of sampling, elicitation and roots, cancellation, logging and listen streams, over a real
 * bridge, its real children and real clients (the v2 SDK client, and requests by hand where the wire matters).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EVERYTHING, FIXTURE, isAlive, startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { connect, textOf } from '../helpers/client.js';
import { MODERN, envelope, modernClient, modernRequest, modernStream } from '../helpers/modern.js';
import { messageOf } from '../helpers/sse-client.js';

afterEach(stopAllBridges);
const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-modern-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ASKING = { sampling: {}, elicitation: {}, roots: {} };
const text = (reply: { answer: { result?: Record<string, unknown> } }) => textOf(reply.answer.result);

describe('server/discover', () => {
  it('answers from the child’s InitializeResult with --modern', async () => {
    const bridge = await startBridge(['--modern']);
    const reply = await modernRequest(bridge.url, 'server/discover');
    expect(reply.status).toBe(200);
    expect(reply.answer.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: [MODERN],
      ttlMs: 0,
      cacheScope: 'private',
      capabilities: { tools: {} },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-bridge-fixture' } },
    });
  });

  it('gets an answer every client reads as "legacy" with --no-modern', async () => {
    const bridge = await startBridge(['--no-modern']);
    const reply = await modernRequest(bridge.url, 'server/discover');
    expect(reply.status).toBe(400);
    expect(reply.answer.error?.code).not.toBe(-32022);
    const client = await modernClient(bridge.url, 'auto');
    expect(client.getNegotiatedProtocolVersion()).not.toBe(MODERN);
    await client.close();
  });
});

describe('the envelope and headers of a modern request', () => {
  it('refuses what the spec refuses, with its codes and statuses', async () => {
    const bridge = await startBridge(['--modern']);
    const call = { name: 'echo', arguments: { text: 'x' } };
    const wrongVersion = await modernRequest(bridge.url, 'tools/call', call, { headers: { 'mcp-protocol-version': '2025-11-25' } });
    expect([wrongVersion.status, wrongVersion.answer.error?.code]).toEqual([400, -32020]);
    const wrongName = await modernRequest(bridge.url, 'tools/call', call, { headers: { 'mcp-name': 'other' } });
    expect([wrongName.status, wrongName.answer.error?.code]).toEqual([400, -32020]);
    const encodedName = await modernRequest(bridge.url, 'tools/call', call, { headers: { 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` } });
    expect(encodedName.status).toBe(200);
    const unknown = await modernRequest(bridge.url, 'ping');
    expect([unknown.status, unknown.answer.error?.code]).toEqual([404, -32601]);
    const future = { 'io.modelcontextprotocol/protocolVersion': '2027-01-01', 'io.modelcontextprotocol/clientCapabilities': {} };
    const unsupported = await modernRequest(bridge.url, 'tools/list', { _meta: future }, { headers: { 'mcp-protocol-version': '2027-01-01' } });
    expect([unsupported.status, unsupported.answer.error?.code]).toEqual([400, -32022]);
    expect(unsupported.answer.error?.data).toEqual({ supported: [MODERN], requested: '2027-01-01' });
    const noCapabilities = { 'io.modelcontextprotocol/protocolVersion': MODERN };
    const invalid = await modernRequest(bridge.url, 'tools/list', { _meta: noCapabilities });
    expect([invalid.status, invalid.answer.error?.code]).toEqual([400, -32602]);
    // Every refusal echoes the request's id.
    expect(invalid.answer.id).toBeTypeOf('number');
  });

  it('ignores an Mcp-Session-Id, and leaves 2025 sessions exactly as they are', async () => {
    const bridge = await startBridge(['--modern']);
    const { client } = await connect(bridge.url);
    const legacyPid = JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).pid;
    const modern = await modernRequest(bridge.url, 'tools/call', { name: 'whoami', arguments: {} }, { headers: { 'mcp-session-id': 'no-such-session' } });
    expect(modern.status).toBe(200);
    const modernPid = JSON.parse(text(modern)).pid;
    // The eras never share a child: a session's child holds its client's state.
    expect(modernPid).not.toBe(legacyPid);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    await client.close();
  });
});

describe('the v2 SDK client', () => {
  for (const mode of ['pin', 'auto'] as const) {
    it(`(${mode}) calls tools with progress, and answers sampling and elicitation through server-everything`, async () => {
      const bridge = await startBridge(['--modern'], EVERYTHING);
      const client = await modernClient(bridge.url, mode);
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      const progress: number[] = [];
      const long = await client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(textOf(long)).toMatch(/completed/);
      expect(progress).toEqual([1, 2, 3]);
      const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello' } });
      expect(textOf(sampled)).toContain('sampled: ');
      const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      expect(textOf(elicited)).toMatch(/accept/);
      await client.close();
    });
  }
});

describe('multi-round-trip translation', () => {
  it('parks a call at the child’s question and goes on with the retry’s answer; a replayed or altered state is refused', async () => {
    const bridge = await startBridge(['--modern']);
    const call = { name: 'elicit', arguments: { message: 'Who?' } };
    const first = await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING });
    const result = first.answer.result as { resultType: string; inputRequests: Record<string, { method: string; params: { message: string } }>; requestState: string };
    expect(result.resultType).toBe('input_required');
    const [key, question] = Object.entries(result.inputRequests)[0];
    expect(question.method).toBe('elicitation/create');
    expect(question.params.message).toBe('Who?');
    const retry = (requestState: string) =>
      modernRequest(bridge.url, 'tools/call', { ...call, inputResponses: { [key]: { action: 'accept', content: { name: 'Ada' } } }, requestState }, { capabilities: ASKING });
    const answered = await retry(result.requestState);
    expect(text(answered)).toBe('accept: {"name":"Ada"}');
    expect(answered.answer.result?.resultType).toBe('complete');
    const replayed = await retry(result.requestState);
    expect(replayed.answer.error).toMatchObject({ code: -32602, message: 'Invalid or expired requestState' });
    const again = await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING });
    const state = (again.answer.result as { requestState: string }).requestState;
    const altered = state.slice(0, -2) + (state.endsWith('A') ? 'BB' : 'AA');
    expect((await retry(altered)).answer.error?.code).toBe(-32602);
  });

  it('asks again for an answer the retry left out', async () => {
    const bridge = await startBridge(['--modern']);
    const call = { name: 'sample', arguments: { prompt: 'p' } };
    const first = (await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING })).answer.result as { requestState: string; inputRequests: object };
    const second = await modernRequest(bridge.url, 'tools/call', { ...call, inputResponses: {}, requestState: first.requestState }, { capabilities: ASKING });
    expect(second.answer.result).toMatchObject({ resultType: 'input_required', inputRequests: first.inputRequests });
  });

  it('refuses with -32021 (HTTP 400) a question the caller declared no capability for', async () => {
    const bridge = await startBridge(['--modern']);
    const reply = await modernRequest(bridge.url, 'tools/call', { name: 'sample', arguments: { prompt: 'p' } }, { capabilities: { elicitation: {} } });
    expect(reply.status).toBe(400);
    expect(reply.answer.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
  });

  it('answers a retry with the child’s failure when the child died while the call was parked', async () => {
    const bridge = await startBridge(['--modern']);
    const pid = JSON.parse(text(await modernRequest(bridge.url, 'tools/call', { name: 'whoami', arguments: {} }, { capabilities: ASKING }))).pid as number;
    const call = { name: 'elicit', arguments: { message: 'm' } };
    const parked = (await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING })).answer.result as { requestState: string; inputRequests: object };
    expect(Object.keys(parked.inputRequests)).toHaveLength(1);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !isAlive(pid), { what: 'the child to die' });
    await bridge.waitForLog((line) => line.msg === 'shared child gone');
    const key = Object.keys(parked.inputRequests)[0];
    const retry = await modernRequest(bridge.url, 'tools/call', { ...call, inputResponses: { [key]: { action: 'decline' } }, requestState: parked.requestState }, { capabilities: ASKING });
    expect(retry.status).toBe(200);
    expect(retry.answer.error?.message).toMatch(/exited/);
  });

  it('frees a parked call when its time is up: a later retry is refused', async () => {
    const bridge = await startBridge(['--modern', '--input-timeout', '0.2']);
    const call = { name: 'elicit', arguments: { message: 'm' } };
    const parked = (await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING })).answer.result as { requestState: string };
    await bridge.waitForLog((line) => line.msg === '2026-07-28 call cancelled' && line.reason === 'its client did not answer in time');
    const retry = await modernRequest(bridge.url, 'tools/call', { ...call, inputResponses: {}, requestState: parked.requestState }, { capabilities: ASKING });
    expect(retry.answer.error?.code).toBe(-32602);
  });

  it('holds at most 8 parked calls per client: a flood pushes out only that client’s oldest', async () => {
    const bridge = await startBridge(['--modern']);
    const call = { name: 'elicit', arguments: { message: 'm' } };
    const states: string[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = await modernRequest(bridge.url, 'tools/call', call, { capabilities: ASKING });
      states.push((reply.answer.result as { requestState: string }).requestState);
    }
    const retry = async (state: string) => {
      const reply = await modernRequest(bridge.url, 'tools/call', { ...call, inputResponses: {}, requestState: state }, { capabilities: ASKING });
      return reply.answer.error?.code ?? reply.answer.result?.resultType;
    };
    expect(await retry(states[0])).toBe(-32602);
    expect(await retry(states[1])).toBe(-32602);
    // The newest is still parked: an empty answer is asked again.
    expect(await retry(states[9])).toBe('input_required');
  });
});

describe('bounds of the 2026-07-28 side', () => {
  it('holds a client to --max-inflight calls at once (429 past it), parked ones included, and frees a place when one ends', async () => {
    const bridge = await startBridge(['--max-inflight', '2']);
    const parked = await modernRequest(bridge.url, 'tools/call', { name: 'elicit', arguments: { message: 'm' } }, { capabilities: ASKING });
    expect(parked.answer.result?.resultType).toBe('input_required');
    const params = { name: 'slow', arguments: { steps: 100, stepMs: 20 }, _meta: { ...envelope(), progressToken: 'p' } };
    const slow = modernStream(bridge.url, 'tools/call', params, 5);
    await slow.waitForEvent((event) => messageOf(event)?.method === 'notifications/progress');
    const third = await modernRequest(bridge.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    slow.close();
    await bridge.waitForLog((line) => line.msg === '2026-07-28 call cancelled' && line.reason === 'the client closed its stream');
    expect(text(await modernRequest(bridge.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }))).toBe('x');
  });
});

describe('isolation and failures of the 2026-07-28 side', () => {
  it('gives each client children of its own: one client never reaches another’s server state', async () => {
    const tokens = join(scratch, 'tokens');
    writeFileSync(tokens, 'token-of-alice-0123456789\ntoken-of-bob-0123456789ab\n');
    const bridge = await startBridge(['--auth-token-file', tokens]);
    const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const whoami = async (token: string) => JSON.parse(text(await modernRequest(bridge.url, 'tools/call', { name: 'whoami', arguments: {} }, as(token)))).pid as number;
    const alice = await whoami('token-of-alice-0123456789');
    expect(await whoami('token-of-alice-0123456789')).toBe(alice);
    expect(await whoami('token-of-bob-0123456789ab')).not.toBe(alice);
  });

  it('answers a call whose child never answers its handshake, and keeps no place for it', async () => {
    const bridge = await startBridge(['--request-timeout', '1', '--max-inflight', '1', '--child-era', 'legacy'], ['sh', '-c', 'exec sleep 600']);
    for (let i = 0; i < 2; i++) {
      const reply = await modernRequest(bridge.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } });
      // 502 while the child does not answer; 503 while it is restarted after the failure: never 429, never a hang.
      expect([502, 503]).toContain(reply.status);
    }
  });

  it('keeps to the restart delay of a crashing command, however many requests come', async () => {
    const bridge = await startBridge(['--child-era', 'legacy'], ['sh', '-c', 'exit 1']);
    const replies = [];
    for (let i = 0; i < 10; i++) replies.push(await modernRequest(bridge.url, 'tools/call', { name: 'echo', arguments: { text: 'x' } }));
    expect(replies.every((reply) => reply.status >= 500)).toBe(true);
    expect(bridge.logs.filter((line) => line.msg === 'shared child started').length).toBeLessThanOrEqual(2);
  });

  it('does not run a call whose client left while its child was starting', async () => {
    const bridge = await startBridge(['--child-era', 'legacy'], ['sh', '-c', `sleep 1; exec node ${FIXTURE[1]}`]);
    const params = { name: 'echo', arguments: { text: 'never' }, _meta: envelope() };
    const early = modernStream(bridge.url, 'tools/call', params, 1);
    await bridge.waitForLog((line) => line.msg === 'shared child started');
    early.close();
    const calls = JSON.parse(text(await modernRequest(bridge.url, 'tools/call', { name: 'calls', arguments: {} })));
    expect(calls).not.toContain('echo');
  });

  it('answers the calls in flight with an error when the bridge shuts down', async () => {
    const bridge = await startBridge([]);
    const params = { name: 'slow', arguments: { steps: 100, stepMs: 50 }, _meta: { ...envelope(), progressToken: 'p' } };
    const slow = modernStream(bridge.url, 'tools/call', params, 9);
    await slow.waitForEvent((event) => messageOf(event)?.method === 'notifications/progress');
    void bridge.stop('SIGTERM');
    const answer = messageOf(await slow.waitForEvent((event) => messageOf(event)?.id === 9));
    expect(answer?.error?.message).toMatch(/shutting down/);
  });
});

describe('a modern call’s stream', () => {
  it('closed by its client cancels the call in the child', async () => {
    const bridge = await startBridge(['--modern']);
    const params = { name: 'slow', arguments: { steps: 50, stepMs: 40 }, _meta: { ...envelope(), progressToken: 'p1' } };
    const stream = modernStream(bridge.url, 'tools/call', params, 7);
    await stream.waitForEvent((event) => messageOf(event)?.method === 'notifications/progress');
    stream.close();
    await bridge.waitForLog((line) => typeof line.stderr === 'string' && line.stderr.includes('slow(40): cancelled'));
  });

  it('carries log messages at or above the level its request named, and none without one', async () => {
    const bridge = await startBridge(['--modern']);
    const withLevel = await modernRequest(bridge.url, 'tools/call', { name: 'log', arguments: { count: 3 }, _meta: envelope({}, { 'io.modelcontextprotocol/logLevel': 'info' }) });
    expect(withLevel.messages.filter((m) => m.method === 'notifications/message')).toHaveLength(3);
    const above = await modernRequest(bridge.url, 'tools/call', { name: 'log', arguments: { count: 3 }, _meta: envelope({}, { 'io.modelcontextprotocol/logLevel': 'error' }) });
    expect(above.messages.filter((m) => m.method === 'notifications/message')).toHaveLength(0);
    const without = await modernRequest(bridge.url, 'tools/call', { name: 'log', arguments: { count: 3 } });
    expect(without.messages).toHaveLength(1);
    expect(text(without)).toBe('logged 3');
  });
});

describe('subscriptions/listen', () => {
  it('acknowledges, then carries resources/updated for its URIs, each tagged with its subscription id', async () => {
    const bridge = await startBridge(['--modern']);
    const params = { notifications: { resourceSubscriptions: ['fixture://counter'], toolsListChanged: true }, _meta: envelope() };
    const listen = modernStream(bridge.url, 'subscriptions/listen', params, 'listen-1');
    const ack = messageOf(await listen.waitForEvent((event) => messageOf(event)?.method === 'notifications/subscriptions/acknowledged'));
    expect(ack?.params?._meta).toEqual({ 'io.modelcontextprotocol/subscriptionId': 'listen-1' });
    // The subscription reaches the child after the acknowledgement: touch until the update comes.
    await waitFor(
      async () => {
        await modernRequest(bridge.url, 'tools/call', { name: 'touch', arguments: {} });
        return listen.events.some((event) => messageOf(event)?.method === 'notifications/resources/updated');
      },
      { what: 'resources/updated on the listen stream', intervalMs: 100 },
    );
    const updated = listen.events.map(messageOf).find((message) => message?.method === 'notifications/resources/updated');
    expect(updated?.params).toMatchObject({ uri: 'fixture://counter', _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' } });
    listen.close();
  });
});
