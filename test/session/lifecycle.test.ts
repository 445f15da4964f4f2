/** Sessions and their children: isolation, crashes, reaping, the cap, shutdown, and no leaked process. */
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE, ROOT, isAlive, startBridge, stopAllBridges, taggedProcesses, waitFor } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { loggedSessionId } from '../../src/session/session-id.js';

afterEach(stopAllBridges);

const ping = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' });
const withSession = (id: string) => ({ ...MCP_HEADERS, 'mcp-session-id': id });

describe('isolation', () => {
  it('runs 20 concurrent sessions, one child each, with no cross-talk', async () => {
    const bridge = await startBridge(['--max-sessions-per-client', '20']);
    const sessions = await Promise.all(Array.from({ length: 20 }, () => connect(bridge.url)));
    const results = await Promise.all(
      sessions.map(async ({ client }, i) => {
        const progress: number[] = [];
        const [who, echo, slow] = await Promise.all([
          client.callTool({ name: 'whoami', arguments: {} }),
          client.callTool({ name: 'echo', arguments: { text: `session-${i}` } }),
          client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 10 + i } }, undefined, {
            onprogress: (p) => progress.push(p.progress),
          }),
        ]);
        return { pid: JSON.parse(textOf(who)).pid as number, echo: textOf(echo), slow: textOf(slow), progress };
      }),
    );
    expect(new Set(results.map((r) => r.pid)).size).toBe(20);
    results.forEach((r, i) => {
      expect(r.echo).toBe(`session-${i}`);
      expect(r.progress).toEqual([1, 2, 3]);
      expect(r.slow).toBe('done after 3 steps');
    });
    expect(taggedProcesses(bridge.tag).length).toBeGreaterThanOrEqual(20);
    await Promise.all(sessions.map(({ transport }) => transport.terminateSession()));
    await waitFor(() => bridge.logs.filter((l) => l.msg === 'session ended').length === 20, { what: '20 sessions ended' });
  });
});

describe('child failures', () => {
  it('answers a call in flight when the child crashes, then 404 so the client re-initializes', async () => {
    const bridge = await startBridge([]);
    const { client, transport } = await connect(bridge.url);
    const sessionId = transport.sessionId as string;
    await expect(client.callTool({ name: 'crash', arguments: { code: 7 } })).rejects.toThrow(/exited.*exit code 7/);
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended');
    expect(ended).toMatchObject({ reason: 'child-exit', exitCode: 7 });
    const after = await rawRequest(bridge.url, { headers: withSession(sessionId), body: ping(2) });
    expect(after.status).toBe(404);
    const fresh = await connect(bridge.url);
    expect(textOf(await fresh.client.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('again');
  });

  it('answers 502 when the command does not exist, and keeps serving', async () => {
    const bridge = await startBridge([], ['/nonexistent/mcp-server']);
    const response = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(response.status).toBe(502);
    expect(response.json()).toMatchObject({ id: 1, error: { code: -32603 } });
    await bridge.waitForLog((l) => l.msg === 'MCP server command could not be started');
    const health = await rawRequest(bridge.url.replace(/\/mcp$/, '/healthz'), { method: 'GET' });
    expect(health.status).toBe(200);
  });

  it('answers initialize with a JSON-RPC error when the command exits at once', async () => {
    const bridge = await startBridge([], [`${ROOT}test/fixtures/not-mcp.sh`]);
    const response = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(response.body).toMatch(/"error".*exit code 3/);
    await bridge.waitForLog((l) => l.msg === 'child stderr' && l.stderr === 'this server is broken');
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.exitCode === 3);
  });
});

describe('reaping and the session cap', () => {
  it('reaps idle sessions, but never one with an open GET stream', async () => {
    const bridge = await startBridge(['--idle-timeout', '0.5']);
    const { client } = await connect(bridge.url); // holds its GET stream open
    const first = await rawInitialize(bridge.url);
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(first) && l.reason === 'idle');
    const second = await rawInitialize(bridge.url);
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.session === loggedSessionId(second) && l.reason === 'idle');
    // Two idle timeouts have passed since the SDK client connected: it must still be there.
    expect(bridge.logs.filter((l) => l.msg === 'session ended')).toHaveLength(2);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
  });

  it('evicts the least recently used idle session at the cap', async () => {
    const bridge = await startBridge(['--max-sessions', '2']);
    const a = await rawInitialize(bridge.url);
    const b = await rawInitialize(bridge.url);
    expect((await rawRequest(bridge.url, { headers: withSession(a), body: ping(2) })).status).toBe(200);
    const c = await rawInitialize(bridge.url);
    const evicted = await bridge.waitForLog((l) => l.msg === 'session ended');
    expect(evicted).toMatchObject({ reason: 'evicted', session: loggedSessionId(b) });
    expect((await rawRequest(bridge.url, { headers: withSession(b), body: ping(3) })).status).toBe(404);
    expect((await rawRequest(bridge.url, { headers: withSession(a), body: ping(4) })).status).toBe(200);
    expect((await rawRequest(bridge.url, { headers: withSession(c), body: ping(5) })).status).toBe(200);
  });

  it('answers 503 with Retry-After when every session is busy', async () => {
    const bridge = await startBridge(['--max-sessions', '1']);
    const { client } = await connect(bridge.url);
    const call = client.callTool({ name: 'slow', arguments: { steps: 1, stepMs: 1500 } });
    await waitFor(() => bridge.logs.some((l) => l.msg === 'session started'), { what: 'session start' });
    const refused = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: JSON.stringify(INIT_BODY) });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.json()).toMatchObject({ id: 1, error: { code: -32000 } });
    expect(textOf(await call)).toBe('done after 1 steps');
  });
});

describe('bridge shutdown', () => {
  it('on SIGTERM fails calls in flight, ends every child and exits 0', async () => {
    const bridge = await startBridge([]);
    const sessions = await Promise.all([connect(bridge.url), connect(bridge.url), connect(bridge.url)]);
    let progressed = false;
    const call = sessions[0].client.callTool({ name: 'slow', arguments: { steps: 100, stepMs: 100 } }, undefined, {
      onprogress: () => (progressed = true),
    });
    const settled = call.then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    await waitFor(() => progressed, { what: 'the call to be under way' });
    expect(await bridge.stop('SIGTERM')).toBe(0);
    expect(await settled).toMatch(/shutting down/);
    expect(taggedProcesses(bridge.tag)).toEqual([]);
  });

  it('leaves no child or grandchild alive when the bridge is killed with SIGKILL', async () => {
    // sh stays as the parent of the server, so the server is a grandchild of the bridge.
    const wrapped = ['sh', '-c', `${FIXTURE.join(' ')}; exit $?`];
    const bridge = await startBridge([], wrapped);
    await Promise.all([connect(bridge.url), connect(bridge.url)]);
    const pids = await waitFor(() => (taggedProcesses(bridge.tag).length >= 4 ? taggedProcesses(bridge.tag) : undefined), {
      what: 'two shells and two servers',
    });
    bridge.process.kill('SIGKILL');
    await bridge.exited;
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeoutMs: 5000, what: 'every child and grandchild to die' });
  });

  it('ends a daemon that left the process group (setsid) with its session, and with a killed bridge', async () => {
    const daemonizing = ['sh', '-c', `setsid sleep 600 </dev/null >/dev/null 2>&1 & exec ${FIXTURE.join(' ')}`];
    const bridge = await startBridge([], daemonizing);
    const containment = await bridge.waitForLog((l) => l.containment !== undefined);
    const id = await rawInitialize(bridge.url);
    const pids = await waitFor(() => (taggedProcesses(bridge.tag).length >= 2 ? taggedProcesses(bridge.tag) : undefined), {
      what: 'the server and its daemon',
    });
    expect((await rawRequest(bridge.url, { method: 'DELETE', headers: withSession(id) })).status).toBe(200);
    await waitFor(() => pids.every((pid) => !isAlive(pid)) || undefined, { timeoutMs: 8000, what: `the daemon to end too (${containment.containment})` });

    await rawInitialize(bridge.url);
    const second = await waitFor(() => (taggedProcesses(bridge.tag).length >= 2 ? taggedProcesses(bridge.tag) : undefined), {
      what: 'a second server and daemon',
    });
    bridge.process.kill('SIGKILL');
    await bridge.exited;
    await waitFor(() => second.every((pid) => !isAlive(pid)) || undefined, { timeoutMs: 8000, what: 'the orphan guard to end the daemon' });
  });

  it('ends a wrapper and its grandchildren on DELETE', async () => {
    const bridge = await startBridge([], ['sh', '-c', `${FIXTURE.join(' ')}; exit $?`]);
    const id = await rawInitialize(bridge.url);
    const pids = await waitFor(() => (taggedProcesses(bridge.tag).length >= 2 ? taggedProcesses(bridge.tag) : undefined), {
      what: 'shell and server',
    });
    expect((await rawRequest(bridge.url, { method: 'DELETE', headers: withSession(id) })).status).toBe(200);
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { timeoutMs: 8000, what: 'the whole process group to end' });
  });
});

describe('child environment', () => {
  it('passes only the safe base, --env and --pass-env', async () => {
    const bridge = await startBridge(['--env', 'GIVEN=yes', '--pass-env', 'PASSED_ON'], FIXTURE, {
      env: { PASSED_ON: 'passed', SECRET_TOKEN: 'hunter2', MCP_BRIDGE_LOG_LEVEL: 'debug' },
    });
    const { client } = await connect(bridge.url);
    const read = async (name: string) => textOf(await client.callTool({ name: 'env', arguments: { name } }));
    expect(await read('GIVEN')).toBe('yes');
    expect(await read('PASSED_ON')).toBe('passed');
    expect(await read('SECRET_TOKEN')).toBe('<unset>');
    expect(await read('MCP_BRIDGE_LOG_LEVEL')).toBe('<unset>');
    expect(await read('PATH')).not.toBe('<unset>');
    expect(await read('FIXTURE_RUN')).not.toBe('<unset>');
  });
});
