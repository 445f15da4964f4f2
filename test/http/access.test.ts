/** Who may use the bridge: bearer tokens, the non-loopback refusal, and client addresses behind a proxy. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Bridge, BRIDGE_BIN, startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, rawRequest, textOf } from '../helpers/client.js';

const run = promisify(execFile);
afterEach(stopAllBridges);
const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-auth-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const init = JSON.stringify(INIT_BODY);

async function connectWithToken(url: string, token: string) {
  const client = new Client({ name: 'auth-test', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return client;
}

describe('--auth-token-file', () => {
  it('requires one of the tokens, answers 401 with WWW-Authenticate otherwise, and re-reads the file on SIGHUP', async () => {
    const file = join(scratch, 'tokens');
    writeFileSync(file, '# operators\nfirst-token-0123456789\n\nsecond-token-abcdef\n');
    const bridge = await startBridge(['--auth-token-file', file]);

    const anonymous = await rawRequest(bridge.url, { headers: MCP_HEADERS, body: init });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="mcp-bridge"');
    expect(anonymous.json().error?.message).toMatch(/bearer token/);
    const wrong = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, authorization: 'Bearer first-token-0123456788' }, body: init });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toContain('invalid_token');

    for (const token of ['first-token-0123456789', 'second-token-abcdef']) {
      const client = await connectWithToken(bridge.url, token);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'authorized' } }))).toBe('authorized');
      // The token never reaches the child's environment.
      expect(textOf(await client.callTool({ name: 'env', arguments: { name: 'AUTHORIZATION' } }))).toBe('<unset>');
      await client.close();
    }

    writeFileSync(file, 'rotated-token-999\n');
    bridge.process.kill('SIGHUP');
    await bridge.waitForLog((l) => l.msg === 'bearer tokens reloaded');
    const old = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, authorization: 'Bearer first-token-0123456789' }, body: init });
    expect(old.status).toBe(401);
    const rotated = await connectWithToken(bridge.url, 'rotated-token-999');
    await rotated.close();
    // Tokens never appear in the logs, not even at debug level.
    const logText = JSON.stringify(bridge.logs);
    for (const token of ['first-token', 'second-token', 'rotated-token']) expect(logText).not.toContain(token);
  });

  it('refuses to start with an empty or missing token file (exit 2)', async () => {
    const empty = join(scratch, 'empty');
    writeFileSync(empty, '# nothing\n\n');
    for (const file of [empty, join(scratch, 'missing')]) {
      const result = await run(process.execPath, [BRIDGE_BIN, '--port', '0', '--auth-token-file', file, '--', 'true']).catch((e) => e);
      expect(result.code, file).toBe(2);
      expect(result.stderr).toContain('--auth-token-file');
    }
  });
});

describe('binding beyond loopback', () => {
  it('refuses a non-loopback --host without auth unless --allow-unauthenticated', async () => {
    const refused = await run(process.execPath, [BRIDGE_BIN, '--host', '0.0.0.0', '--port', '0', '--', 'true']).catch((e) => e);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--auth-token-file.*--allow-unauthenticated/);
    const bridge = await startBridge(['--host', '0.0.0.0', '--allow-unauthenticated']);
    const local = bridge.url.replace('0.0.0.0', '127.0.0.1');
    const response = await rawRequest(local, { headers: MCP_HEADERS, body: init });
    expect(response.status).toBe(200);
  });
});

describe('--trust-proxy', () => {
  it('believes only the header --client-ip-header names, only from a trusted peer, X-Forwarded-For from the right', async () => {
    const startedClients = async (bridge: Bridge, count: number) =>
      waitFor(() => {
        const clients = bridge.logs.filter((l) => l.msg === 'session started').map((l) => l.client);
        return clients.length === count ? clients : undefined;
      });
    const trusting = await startBridge(['--trust-proxy', '127.0.0.1/32']);
    // X-Forwarded-For by default: a CF-Connecting-IP that a proxy passed through is the client's own invention.
    await rawRequest(trusting.url, { headers: { ...MCP_HEADERS, 'cf-connecting-ip': '203.0.113.7' }, body: init });
    await rawRequest(trusting.url, { headers: { ...MCP_HEADERS, 'x-forwarded-for': '198.51.100.1, 203.0.113.9' }, body: init });
    expect(await startedClients(trusting, 2)).toEqual(['127.0.0.1', '203.0.113.9']);

    const cloudflare = await startBridge(['--trust-proxy', '127.0.0.1/32', '--client-ip-header', 'CF-Connecting-IP']);
    await rawRequest(cloudflare.url, { headers: { ...MCP_HEADERS, 'cf-connecting-ip': '203.0.113.7', 'x-forwarded-for': '198.51.100.1' }, body: init });
    expect(await startedClients(cloudflare, 1)).toEqual(['203.0.113.7']);

    const plain = await startBridge([]);
    await rawRequest(plain.url, { headers: { ...MCP_HEADERS, 'x-forwarded-for': '203.0.113.7' }, body: init });
    expect((await plain.waitForLog((l) => l.msg === 'session started')).client).toBe('127.0.0.1');
  });
});
