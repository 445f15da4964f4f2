/** Refusals: counted before authentication, failed authentications limited, every kind logged (throttled). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startBridge, stopAllBridges } from '../helpers/bridge.js';
import { INIT_BODY, MCP_HEADERS, rawRequest } from '../helpers/client.js';

afterEach(stopAllBridges);
const scratch = mkdtempSync(join(tmpdir(), 'mcp-bridge-refusals-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const init = JSON.stringify(INIT_BODY);

describe('authentication', () => {
  it('counts wrong tokens toward a limit of their own, after which even the right token is refused for a while', async () => {
    const tokens = join(scratch, 'tokens');
    writeFileSync(tokens, 'right-token\n');
    const bridge = await startBridge(['--auth-token-file', tokens, '--auth-failures-per-minute', '5']);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, authorization: `Bearer guess-${i}` }, body: init })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const right = await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, authorization: 'Bearer right-token' }, body: init });
    expect(right.status).toBe(429);
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('counts requests toward the rate limit before authenticating them', async () => {
    const tokens = join(scratch, 'tokens-rate');
    writeFileSync(tokens, 'right-token\n');
    const bridge = await startBridge(['--auth-token-file', tokens, '--requests-per-minute', '3', '--auth-failures-per-minute', '0']);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await rawRequest(bridge.url, { headers: MCP_HEADERS, body: init })).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
  });
});

describe('refusals in the log', () => {
  it('logs each kind of refusal at warn, and a flood of one kind as a few lines with a count', async () => {
    const bridge = await startBridge(['--max-body-size', '1024', '--requests-per-minute', '20']);
    await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, origin: 'https://evil.example' }, body: init });
    await rawRequest(bridge.url, { headers: MCP_HEADERS, body: 'x'.repeat(2048) });
    for (let i = 0; i < 40; i++) await rawRequest(bridge.url, { headers: MCP_HEADERS, body: init });
    const refused = () => bridge.logs.filter((l) => l.level === 'warn' && l.msg === 'request refused');
    await bridge.waitForLog((l) => l.msg === 'request refused' && l.reason === 'rate');
    const reasons = new Set(refused().map((l) => l.reason));
    expect([...reasons].sort()).toEqual(['origin', 'rate', 'size']);
    // 20 or more rate refusals, one line for them (the next would come 10 s later, with the count held back).
    expect(refused().filter((l) => l.reason === 'rate')).toHaveLength(1);
    expect(refused().find((l) => l.reason === 'size')?.status).toBe(413);
  });
});
