/**
 * The fault matrix: strangers and broken children do their worst; after each case a fresh client still
 * works and no process is left behind. Slow cases live here, run by `npm run test:faults`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT, isAlive, startBridge, stopAllBridges, taggedProcesses, waitFor, type Bridge } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, connect, rawInitialize, rawRequest, textOf } from '../helpers/client.js';
import { GC_PROBE_ENV, retainedAfterGc } from '../helpers/memory.js';

afterEach(stopAllBridges);

const TINY = [`${ROOT}test/fixtures/tiny-server.sh`];
const init = JSON.stringify(INIT_BODY);

/** The closing check of every case: a new client gets a working session, and only live sessions have processes. */
async function expectHealthy(bridge: Bridge, liveSessions = 0): Promise<void> {
  const { client, transport } = await connect(bridge.url);
  expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'healthy' } }))).toBe('healthy');
  await transport.terminateSession();
  await waitFor(() => taggedProcesses(bridge.tag).length <= liveSessions || undefined, {
    what: `at most ${liveSessions} child processes`,
  });
}

function memoryKiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

describe('broken children', () => {
  it('child crashes mid-call: the call fails, the session is gone', async () => {
    const bridge = await startBridge([]);
    const { client } = await connect(bridge.url);
    await expect(client.callTool({ name: 'crash', arguments: { code: 9 } })).rejects.toThrow(/exit code 9/);
    await expectHealthy(bridge);
  });

  it('child ignores SIGTERM: it is killed after the grace period', async () => {
    const ignoring = await startBridge(['--kill-grace', '0.5', '--env', 'FIXTURE_IGNORE_SIGTERM=1']);
    const { transport } = await connect(ignoring.url);
    await transport.terminateSession();
    const ended = await ignoring.waitForLog((l) => l.msg === 'session ended');
    expect(ended.signal).toBe('SIGKILL');
    await ignoring.waitForLog((l) => l.msg === 'child stderr' && l.stderr === 'ignoring SIGTERM');
    expect(ended.childPid).toBeGreaterThan(0);
    expect(isAlive(ended.childPid as number)).toBe(false);
    await expectHealthy(ignoring);
  });

  it('child never answers: the request times out, the child is told to cancel', async () => {
    const bridge = await startBridge(['--request-timeout', '2']);
    const { client } = await connect(bridge.url);
    await expect(client.callTool({ name: 'hang', arguments: {} }, undefined, { timeout: 10_000 })).rejects.toThrow(/timed out/);
    await expectHealthy(bridge, 1);
  });

  it('child writes non-JSON lines: they are skipped and logged, the session goes on', async () => {
    const bridge = await startBridge([]);
    const { client } = await connect(bridge.url);
    expect(textOf(await client.callTool({ name: 'garbage', arguments: {} }))).toBe('wrote garbage');
    await bridge.waitForLog((l) => l.msg === 'skipped a stdout line that is not JSON-RPC');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'after garbage' } }))).toBe('after garbage');
    await expectHealthy(bridge, 1);
  });

  it('child writes a 100 MB line: the session ends and the bridge memory stays bounded', async () => {
    const bridge = await startBridge([]);
    const pid = bridge.process.pid as number;
    const before = memoryKiB(pid);
    const { client } = await connect(bridge.url);
    await expect(client.callTool({ name: 'huge-line', arguments: { megabytes: 100 } }, undefined, { timeout: 60_000 })).rejects.toThrow(
      /over-long line/,
    );
    const ended = await bridge.waitForLog((l) => l.msg === 'session ended');
    expect(ended.reason).toBe('child-output');
    const growthMiB = (memoryKiB(pid).peak - before.rss) / 1024;
    // The line limit is 16 MiB; the bridge holds a few growing copies of a partial line, never the whole line.
    expect(growthMiB).toBeLessThan(100);
    await expectHealthy(bridge);
  });
});

describe('floods and abandonment', () => {
  it('sessions opened and abandoned round after round are all reaped, and the heap stops growing after the first rounds', async () => {
    const bridge = await startBridge(
      ['--idle-timeout', '1', '--sessions-per-minute', '0', '--requests-per-minute', '0', '--max-sessions-per-client', '32'],
      TINY,
      { env: GC_PROBE_ENV },
    );
    const ROUNDS = 5;
    const PER_ROUND = 250;
    const heapAfterRound: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      let opened = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (opened < PER_ROUND) {
            opened++;
            await rawInitialize(bridge.url);
          }
        }),
      );
      await waitFor(() => bridge.logs.filter((l) => l.msg === 'session ended').length >= round * PER_ROUND || undefined, {
        timeoutMs: 60_000,
        what: `every session of round ${round} to end`,
      });
      expect(taggedProcesses(bridge.tag)).toEqual([]);
      heapAfterRound.push((await retainedAfterGc(bridge)).heapUsed);
    }
    const reasons = new Set(bridge.logs.filter((l) => l.msg === 'session ended').map((l) => l.reason));
    expect([...reasons].every((r) => r === 'idle' || r === 'evicted')).toBe(true);
    // Round 1 warms up the JIT, caches and pools; a leak is growth that goes on after it. After a full GC the
    // heap is steady to a few hundred KiB, so 2 MiB over 1 000 sessions would be 2 KiB kept per session.
    const laterGrowthMiB = (heapAfterRound[ROUNDS - 1] - heapAfterRound[1]) / 2 ** 20;
    const rounds = heapAfterRound.map((bytes) => (bytes / 2 ** 20).toFixed(1)).join(', ');
    expect(laterGrowthMiB, `heap after each round (MiB): ${rounds}`).toBeLessThan(2);
  }, 240_000);

  it('an initialize flood over the rate limit gets 429, other clients are unaffected', async () => {
    const bridge = await startBridge(['--trust-proxy', '127.0.0.1/32', '--sessions-per-minute', '5']);
    const statuses = await Promise.all(
      Array.from({ length: 30 }, () =>
        rawRequest(bridge.url, { headers: { ...MCP_HEADERS, 'x-forwarded-for': '203.0.113.66' }, body: init }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    await expectHealthy(bridge, 5);
  });
});

describe('hostile requests', () => {
  it('invalid JSON, a batch of 1 000, a 50 MB body (declared or chunked): clear 4xx answers', async () => {
    const bridge = await startBridge([]);
    const session = await rawInitialize(bridge.url);
    const headers = { ...MCP_HEADERS, 'mcp-session-id': session };

    const invalid = await rawRequest(bridge.url, { headers, body: '{"jsonrpc": "2.0", "id": 1, "method": ' });
    expect(invalid.status).toBe(400);
    expect(invalid.json().error?.code).toBe(-32700);

    const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })));
    const batched = await rawRequest(bridge.url, { headers, body: batch });
    expect(batched.status).toBe(400);
    expect(batched.json().error?.code).toBe(-32600);

    const big = 'x'.repeat(50 * 1024 * 1024);
    const declared = await rawRequest(bridge.url, { headers, body: big });
    expect(declared.status).toBe(413);
    const chunked = await rawRequest(bridge.url, { headers: { ...headers, 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).toBe(413);
    expect(chunked.json().error?.message).toMatch(/Payload Too Large/);
    await expectHealthy(bridge, 1);
  });

  it('headers sent one byte per second: the connection is dropped after --headers-timeout', async () => {
    const bridge = await startBridge(['--headers-timeout', '2']);
    const url = new URL(bridge.url);
    const socket = tcpConnect(Number(url.port), url.hostname);
    const request = `POST ${url.pathname} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`;
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < request.length && !socket.destroyed) socket.write(request[sent++]);
    }, 1000);
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(drip);
    // One byte a second: the bytes sent say how long the bridge let it last, whatever the machine's load.
    expect(sent).toBeLessThan(request.length);
    expect(reply === '' || reply.startsWith('HTTP/1.1 408')).toBe(true);
    await expectHealthy(bridge);
  });

  it('bad Origin, DNS-rebinding Host, missing or wrong token: refused, nothing spawned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-faults-'));
    writeFileSync(join(dir, 'tokens'), 'fault-matrix-token\n');
    const bridge = await startBridge(['--auth-token-file', join(dir, 'tokens')]);
    const auth = { authorization: 'Bearer fault-matrix-token' };
    const cases: Array<[Record<string, string>, number]> = [
      [{ ...auth, origin: 'https://evil.example.com' }, 403],
      [{ ...auth, host: 'evil.example.com' }, 403],
      [{}, 401],
      [{ authorization: 'Bearer wrong' }, 401],
    ];
    for (const [extra, status] of cases) {
      const response = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, ...extra }, body: init });
      expect(response.status, JSON.stringify(extra)).toBe(status);
      expect(response.json().error).toBeDefined();
    }
    expect(taggedProcesses(bridge.tag)).toEqual([]);
    const client = new Client({ name: 'fault', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(bridge.url), { requestInit: { headers: auth } }));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'authorized' } }))).toBe('authorized');
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
