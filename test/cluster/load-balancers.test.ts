/**
 * Two bridges behind Debian's HAProxy and nginx, configured with the README's recipes: every request of a
 * session reaches the node that made it (seen in X-Mcp-Bridge-Node), progress and sampling reach the right
 * client, a node killed outright takes only its own sessions (404, then re-initialize on the other), and
 * with --peer forwarding a plain round robin keeps sessions whole.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, isAlive, startBridge, stopAllBridges, waitFor, type Bridge } from '../helpers/bridge.js';
import { textOf } from '../helpers/client.js';
import { hasHaproxy, hasNginx, recipe, startHaproxy, startNginx, type Balancer } from '../helpers/load-balancer.js';

const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-cluster-'));
const secretFile = join(scratch, 'peer-secret');
writeFileSync(secretFile, 'f3c9a1d27b4e6058c1a9e2b7d4f60831a5c7e9b2d4f6a8c0\n');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let balancer: Balancer | undefined;
afterEach(async () => {
  await balancer?.stop();
  balancer = undefined;
  await stopAllBridges();
});

const SESSIONS = 20;

interface Nodes {
  a: Bridge;
  b: Bridge;
  ports: { balancer: number; a: number; b: number };
}

/** Nodes a and b on free ports, trusting the balancer's forwarded-for, with room for all of one test's sessions. */
async function startNodes({ peers = false } = {}): Promise<Nodes> {
  const ports = { balancer: await freePort(), a: await freePort(), b: await freePort() };
  const node = (id: 'a' | 'b', other: 'a' | 'b') =>
    startBridge([
      '--port', String(ports[id]), '--node-id', id, '--trust-proxy', '127.0.0.1',
      '--max-sessions-per-client', String(SESSIONS * 2), '--sessions-per-minute', '0',
      ...(peers ? ['--peer', `${other}=http://127.0.0.1:${ports[other]}`, '--peer-secret-file', secretFile] : []),
    ]);
  const [a, b] = await Promise.all([node('a', 'b'), node('b', 'a')]);
  return { a, b, ports };
}

/** What one client saw: the node of every response, by method. */
interface Seen {
  nodes: Array<{ method: string; node: string | null; status: number }>;
}

/** An SDK client whose fetch notes the node of each response; its sampling answers name the client. */
async function open(url: string, name: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport; seen: Seen }> {
  const seen: Seen = { nodes: [] };
  const client = new Client({ name, version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: 'assistant',
    model: 'test',
    content: { type: 'text', text: `answer for ${name}` },
  }));
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      seen.nodes.push({ method: init?.method ?? 'GET', node: response.headers.get('x-mcp-bridge-node'), status: response.status });
      return response;
    },
  });
  await client.connect(transport);
  return { client, transport, seen };
}

/** A whole session: progress and sampling round trips, then DELETE; returns the one node it used. */
async function exercise(url: string, name: string): Promise<string> {
  const { client, transport, seen } = await open(url, name);
  let progress = 0;
  const slow = await client.callTool({ name: 'slow', arguments: { steps: 3, stepMs: 5 } }, undefined, { onprogress: () => void progress++ });
  expect(textOf(slow)).toBe('done after 3 steps');
  expect(progress).toBe(3);
  expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe(`sampled: answer for ${name}`);
  // The SDK opens its GET stream on its own after initializing: let it answer before the session ends.
  await waitFor(() => seen.nodes.some((entry) => entry.method === 'GET'), { what: `${name}'s GET stream` });
  await transport.terminateSession();
  await client.close();
  const methods = new Set(seen.nodes.map((entry) => entry.method));
  expect([...methods].sort()).toEqual(['DELETE', 'GET', 'POST']);
  const nodes = new Set(seen.nodes.map((entry) => entry.node));
  expect(nodes.size, `${name} saw ${JSON.stringify(seen.nodes)}`).toBe(1);
  return [...nodes][0] as string;
}

/** SESSIONS sessions at once through the balancer: each stays on one node, and both nodes are used. */
async function expectSticky(url: string): Promise<void> {
  const nodes = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => exercise(url, `client-${i}`)));
  expect(new Set(nodes)).toEqual(new Set(['a', 'b']));
}

/**
 * Runs `call`, sending it again (twice at most) when it fails in transit: as a node dies, the balancer may
 * close kept-alive connections that carried its traffic, and a request already on one fails on the way.
 */
async function inTransit<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt === 3 || !/fetch failed|other side closed|socket/i.test((error as Error).message)) throw error;
    }
  }
}

const it_haproxy = it.skipIf(!hasHaproxy);
const it_nginx = it.skipIf(!hasNginx);

describe('several nodes behind a load balancer (the README recipes)', () => {
  it_haproxy('HAProxy routing by the session id prefix keeps each session on its node', async () => {
    const { ports } = await startNodes();
    balancer = await startHaproxy(recipe('haproxy-prefix', ports), ports.balancer);
    await expectSticky(balancer.url);
  });

  it_nginx('nginx (open source) with a map on the prefix keeps each session on its node', async () => {
    const { ports } = await startNodes();
    balancer = await startNginx(recipe('nginx', ports), ports.balancer);
    await expectSticky(balancer.url);
  });

  it_haproxy('plain round robin with --peer forwarding keeps each session on its node without balancer state', async () => {
    const { a, b, ports } = await startNodes({ peers: true });
    balancer = await startHaproxy(recipe('haproxy-round-robin', ports), ports.balancer);
    await expectSticky(balancer.url);
    // Round robin did send requests to the node without the session: they were passed on.
    const passed = (bridge: Bridge) => bridge.logs.filter((line) => line.msg === 'passed to peer').length;
    expect(passed(a) + passed(b)).toBeGreaterThan(0);
  });

  for (const [name, start] of [
    ['HAProxy', (ports: Nodes['ports']) => startHaproxy(recipe('haproxy-prefix', ports), ports.balancer)],
    ['nginx', (ports: Nodes['ports']) => startNginx(recipe('nginx', ports), ports.balancer)],
  ] as const) {
    it.skipIf(name === 'HAProxy' ? !hasHaproxy : !hasNginx)(`${name}: a node killed outright loses only its sessions; their clients re-initialize on the other, and no child survives`, async () => {
      const { a, ports } = await startNodes();
      balancer = await start(ports);
      const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => open(balancer!.url, `client-${i}`)));
      const placed = await Promise.all(
        clients.map(async ({ client, seen }) => ({ client, node: seen.nodes.at(-1)?.node, pid: JSON.parse(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).pid as number })),
      );
      const onA = placed.filter((entry) => entry.node === 'a');
      const onB = placed.filter((entry) => entry.node === 'b');
      expect(onA.length).toBeGreaterThan(0);
      expect(onB.length).toBeGreaterThan(0);

      a.process.kill('SIGKILL');
      await a.exited;
      for (const { client } of onA) {
        await expect(inTransit(() => client.callTool({ name: 'echo', arguments: { text: 'x' } }))).rejects.toThrow(/404|Session not found/);
      }
      // B's sessions carry on.
      for (const { client } of onB) {
        expect(textOf(await inTransit(() => client.callTool({ name: 'echo', arguments: { text: 'still here' } })))).toBe('still here');
      }
      // A's clients start over, on B.
      for (let i = 0; i < onA.length; i++) {
        const { client, seen } = await inTransit(() => open(balancer!.url, `again-${i}`));
        expect(textOf(await inTransit(() => client.callTool({ name: 'echo', arguments: { text: 'again' } })))).toBe('again');
        expect(new Set(seen.nodes.map((entry) => entry.node))).toEqual(new Set(['b']));
        await client.close();
      }
      // The watcher of the killed node ended its children.
      await waitFor(() => onA.every(({ pid }) => !isAlive(pid)), { what: "node a's children to end" });
      await Promise.all(clients.map(({ client }) => client.close()));
    });
  }
});
