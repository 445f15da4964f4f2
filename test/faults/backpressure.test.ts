/**
 * Clients that do not read and children that write or take too much: every byte the bridge holds for them
 * stays bounded, backpressure reaches whoever produces it, other users keep their latency, and everything
 * is freed when the culprit goes. Memory is what the bridge retains after a full GC (gc-probe.cjs),
 * compared with its own baseline in the same run.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startBridge, stopAllBridges, taggedProcesses, waitFor, type Bridge } from '../helpers/bridge.js';
import { MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { GC_PROBE_ENV, mib, retainedAfterGc } from '../helpers/memory.js';
import { messageOf, sseRequest } from '../helpers/sse-client.js';
import { loggedSessionId } from '../../src/session/session-id.js';

afterEach(stopAllBridges);

const FLOOD = ['node', `${ROOT}test/fixtures/flood-server.mjs`];
const KiB = 1024;
const MiB = 1024 * KiB;

const call = (id: number, name: string, args: Record<string, unknown>, progressToken?: string) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...(progressToken ? { _meta: { progressToken } } : {}) } });
const sessionHeaders = (session: string) => ({ ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });
const getHeaders = (session: string) => ({ accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-11-25' });

/** The median time of `n` sequential calls, in ms. */
async function p50(n: number, once: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await once();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
}

/** The most the flood fixture says it has written so far. */
function floodWritten(bridge: Bridge): number {
  const lines = bridge.logs.filter((l) => l.msg === 'child stderr' && /^flood: .* (\d+) bytes$/.test(String(l.stderr)));
  return Math.max(0, ...lines.map((l) => Number(/(\d+) bytes$/.exec(String(l.stderr))?.[1])));
}

/** Another user's echo calls, timed. */
async function otherUser(bridge: Bridge) {
  const { client } = await connect(bridge.url);
  return () => p50(30, () => client.callTool({ name: 'echo', arguments: { text: 'other' } }));
}

describe('clients that do not read', () => {
  it('a GET stream left unread: the child waits, the bridge holds a bounded amount, others keep their latency, nothing is lost', async () => {
    const bridge = await startBridge([], FLOOD, { env: GC_PROBE_ENV });
    const timeOther = await otherUser(bridge);
    const baseline = await timeOther();
    // Taken with the other user's session open and the bridge's code warmed up by it.
    const before = await retainedAfterGc(bridge);

    const session = await rawInitialize(bridge.url);
    const stream = sseRequest(bridge.url, { headers: getHeaders(session), paused: true });
    await stream.response;
    const COUNT = 4000;
    const started = await rawRequest(bridge.url, { headers: sessionHeaders(session), body: call(2, 'flood', { size: 64 * KiB, count: COUNT, after: true }) });
    expect(started.body).toContain('flooding after the call');
    await bridge.waitForLog((l) => l.msg === 'a client is not keeping up with its stream; pausing the child', 30_000);

    // Held back: of the 256 MiB it wants to write, the child got out what the kernel's socket buffers (up to
    // 36 MiB with Linux's defaults), the stream's bound and the kept events take; the bridge holds only its
    // bounds' worth.
    expect(floodWritten(bridge)).toBeLessThan(96 * MiB);
    const held = await retainedAfterGc(bridge);
    expect(mib(held) - mib(before), 'MiB held while the client does not read').toBeLessThan(48);
    const during = await timeOther();
    expect(during, `p50 ${during.toFixed(1)} ms during, ${baseline.toFixed(1)} ms before`).toBeLessThan(baseline * 10 + 10);

    // Reading again: every notification arrives, in order, and the child finishes.
    stream.resume();
    await stream.waitForEvent((e) => String(messageOf(e)?.params?.data).startsWith(`${COUNT}:`), 120_000);
    const indexes = stream.events.map(messageOf).flatMap((m) => (m?.method === 'notifications/message' ? [Number(String(m.params?.data).split(':')[0])] : []));
    expect(indexes).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    await bridge.waitForLog((l) => l.msg === 'child stderr' && String(l.stderr).startsWith('flood: done'));
    stream.close();
    await rawRequest(bridge.url, { method: 'DELETE', headers: sessionHeaders(session) });
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(session));
    const after = await retainedAfterGc(bridge);
    expect(mib(after) - mib(before), `MiB left once the client is gone (${JSON.stringify({ before, after })})`).toBeLessThan(4);
  }, 240_000);

  it('a call stream left unread past --stall-timeout ends its session; the child and the memory are freed', async () => {
    const bridge = await startBridge(['--stall-timeout', '2'], FLOOD, { env: GC_PROBE_ENV });
    const before = await retainedAfterGc(bridge);
    const session = await rawInitialize(bridge.url);
    const post = sseRequest(bridge.url, {
      method: 'POST',
      headers: sessionHeaders(session),
      body: call(2, 'flood', { size: 64 * KiB, count: 2000 }, 'p'),
      paused: true,
    });
    await post.response;
    await bridge.waitForLog((l) => l.msg === 'a client is not keeping up with its stream; pausing the child', 30_000);
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(session), 30_000);
    expect(ended.reason).toBe('stalled');
    post.close();
    await waitFor(() => taggedProcesses(bridge.tag).length === 0 || undefined, { what: 'the child to be gone' });
    const after = await retainedAfterGc(bridge);
    expect(mib(after) - mib(before), 'MiB left after the stalled session').toBeLessThan(4);
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'fine' } }))).toBe('fine');
  }, 120_000);
});

describe('children that take or give too much', () => {
  it('POSTs to a child that stopped reading get 503 once its input passes the bound; after --stall-timeout it counts as hung', async () => {
    const bridge = await startBridge(['--stall-timeout', '3', '--requests-per-minute', '0'], FLOOD, { env: GC_PROBE_ENV });
    const before = await retainedAfterGc(bridge);
    const session = await rawInitialize(bridge.url);
    const headers = sessionHeaders(session);
    expect((await rawRequest(bridge.url, { headers, body: call(2, 'stop-reading', {}) })).body).toContain('not reading stdin');
    const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'z'.repeat(512 * KiB) } });
    let accepted = 0;
    let refused;
    while (accepted < 64 && !refused) {
      const response = await rawRequest(bridge.url, { headers, body: note });
      if (response.status === 202) accepted++;
      else refused = response;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers['retry-after']).toBeDefined();
    // 4 MiB of input may wait, on top of what the pipe and the child's own reader took before it stopped.
    expect(accepted).toBeLessThan(16);
    const held = await retainedAfterGc(bridge);
    expect(mib(held) - mib(before), 'MiB held for a child that does not read').toBeLessThan(16);
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(session), 30_000);
    expect(ended.reason).toBe('child-hung');
    await waitFor(() => taggedProcesses(bridge.tag).length === 0 || undefined, { what: 'the hung child to be gone' });
  }, 120_000);

  it('messages waiting for a GET stream that is not open are bounded in bytes, the newest kept', async () => {
    const bridge = await startBridge([], FLOOD);
    const session = await rawInitialize(bridge.url);
    const COUNT = 40;
    await rawRequest(bridge.url, { headers: sessionHeaders(session), body: call(2, 'flood', { size: 512 * KiB, count: COUNT, after: true }) });
    await bridge.waitForLog((l) => l.msg === 'child stderr' && String(l.stderr).startsWith('flood: done'), 30_000);
    await bridge.waitForLog((l) => l.msg === 'no GET stream open: dropped the oldest waiting messages');
    const stream = sseRequest(bridge.url, { headers: getHeaders(session) });
    await stream.waitForEvent((e) => String(messageOf(e)?.params?.data).startsWith(`${COUNT}:`), 30_000);
    const indexes = stream.events.map(messageOf).flatMap((m) => (m?.method === 'notifications/message' ? [Number(String(m.params?.data).split(':')[0])] : []));
    // 4 MiB of them: the last seven or eight, in order.
    expect(indexes.length).toBeGreaterThan(0);
    expect(indexes.length).toBeLessThanOrEqual(8);
    expect(indexes).toEqual(Array.from({ length: indexes.length }, (_, i) => COUNT - indexes.length + 1 + i));
    stream.close();
  }, 60_000);
});

describe('children that stop answering', () => {
  it('a child that closes its stdout but lives on: the call in flight fails at once, the session ends, the child is killed', async () => {
    const bridge = await startBridge(['--request-timeout', '60'], FLOOD);
    const session = await rawInitialize(bridge.url);
    const answer = await rawRequest(bridge.url, { headers: sessionHeaders(session), body: call(2, 'close-stdout', {}) });
    expect(answer.body).toMatch(/closed its output/);
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(session));
    expect(ended.reason).toBe('child-closed-output');
    await waitFor(() => taggedProcesses(bridge.tag).length === 0 || undefined, { what: 'the child to be killed' });
  });
});

describe('the bridge-wide budget', () => {
  it('one session filling it pays for it itself: another session resumes its dropped call whole', async () => {
    const bridge = await startBridge(['--max-total-buffer', String(MiB)], FLOOD);
    // B reads a long flood on a resumable stream: its written events fill the budget.
    const b = await rawInitialize(bridge.url);
    const flood = sseRequest(bridge.url, { method: 'POST', headers: sessionHeaders(b), body: call(2, 'flood', { size: 8 * KiB, count: 1500, intervalMs: 2 }, 'b') });
    await bridge.waitForLog((l) => /passed --max-total-buffer/.test(l.msg) && l.session === loggedSessionId(b), 30_000);
    // A's call is cut mid-way and finishes while A is away.
    const a = await rawInitialize(bridge.url);
    const post = sseRequest(bridge.url, { method: 'POST', headers: sessionHeaders(a), body: call(2, 'flood', { size: KiB, count: 20, intervalMs: 20 }, 'a') });
    await post.waitForEvent((e) => messageOf(e)?.method === 'notifications/progress');
    const cursor = post.events.filter((e) => e.id !== undefined).at(-1)?.id as string;
    post.close();
    await bridge.waitForLog((l) => l.msg === 'child stderr' && l.session === loggedSessionId(a) && String(l.stderr).startsWith('flood: done'));
    const resumed = sseRequest(bridge.url, { headers: { ...getHeaders(a), 'last-event-id': cursor } });
    const answer = await resumed.waitForEvent((e) => messageOf(e)?.id === 2);
    expect(messageOf(answer)?.result).toBeDefined();
    const seen = [...post.events, ...resumed.events].map(messageOf).flatMap((m) => (m?.method === 'notifications/progress' ? [m.params?.progress] : []));
    expect(new Set(seen)).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i + 1)));
    expect(bridge.logs.some((l) => /passed --max-total-buffer/.test(l.msg) && l.session === loggedSessionId(a))).toBe(false);
    flood.close();
  }, 60_000);
});

describe('resuming after the bounds dropped messages', () => {
  it('a resume whose stream lost messages answers the call with an error at once instead of leaving it hanging', async () => {
    const bridge = await startBridge(['--max-session-buffer', String(64 * KiB)], FLOOD);
    const session = await rawInitialize(bridge.url);
    const post = sseRequest(bridge.url, {
      method: 'POST',
      headers: sessionHeaders(session),
      body: call(2, 'flood', { size: 4 * KiB, count: 400, intervalMs: 10 }, 'p'),
    });
    await post.waitForEvent((e) => messageOf(e)?.method === 'notifications/progress');
    const cursor = post.events.filter((e) => e.id !== undefined).at(-1)?.id as string;
    post.close();
    // Four times the session's bound written while the client is away: what it missed cannot all be kept.
    const away = floodWritten(bridge) + 4 * 64 * KiB;
    await waitFor(() => floodWritten(bridge) > away || undefined, { what: 'the child to write on while the client is away' });
    const resumed = sseRequest(bridge.url, { headers: { ...getHeaders(session), 'last-event-id': cursor } });
    const answer = await resumed.waitForEvent((e) => messageOf(e)?.id === 2);
    expect(messageOf(answer)?.error?.message).toMatch(/dropped/);
    await waitFor(() => resumed.ended() || undefined, { what: 'the resumed stream to end' });
    await bridge.waitForLog((l) => l.msg === 'a resumed stream had lost messages');
  }, 60_000);
});
