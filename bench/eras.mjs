#!/usr/bin/env node
// Both protocol eras through one bridge, in front of the same 2025-era server (test/fixtures/fixture-server.mjs):
// a 2025 session's tools/call (the baseline), a sessionless 2026-07-28 tools/call, and a 2026-07-28 call that
// takes one multi-round-trip round (elicitation: input_required, then the retry). Sequential calls over
// node:http keep-alive, no SDK client, so the table shows the bridge's side. A benchmark: nothing fails.
//
//   node eras.mjs [--calls N]
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summary } from './stats.mjs';

const { values: opts } = parseArgs({ options: { calls: { type: 'string', default: '1000' } } });
const calls = Number(opts.calls);
const root = fileURLToPath(new URL('..', import.meta.url));
const agent = new http.Agent({ keepAlive: true });

function post(url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        const lines = String(res.headers['content-type']).startsWith('text/event-stream')
          ? text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).map((l) => JSON.parse(l.slice(6)))
          : [JSON.parse(text || 'null')];
        resolve({ headers: res.headers, answer: lines[lines.length - 1] });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const bridge = spawn(process.execPath, [`${root}bin/mcp-bridge.js`, '--port', '0', '--log-level', 'warn', '--sessions-per-minute', '0', '--requests-per-minute', '0', '--', 'node', `${root}test/fixtures/fixture-server.mjs`], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve) => {
  let out = '';
  bridge.stdout.on('data', (chunk) => {
    out += chunk;
    const match = /listening on (\S+)/.exec(out);
    if (match) resolve(match[1]);
  });
});

const MODERN = '2026-07-28';
const meta = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
const modernHeaders = (name) => ({ 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': name });

const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
const session = { 'mcp-session-id': init.headers['mcp-session-id'] };
await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);

let id = 1;
const cases = {
  '2025 session tools/call': () => post(url, { jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }, session),
  '2026-07-28 tools/call': () => post(url, { jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' }, _meta: meta } }, modernHeaders('echo')),
  '2026-07-28 call + one MRTR round': async () => {
    const params = { name: 'elicit', arguments: { message: 'm' }, _meta: meta };
    const first = await post(url, { jsonrpc: '2.0', id: id++, method: 'tools/call', params }, modernHeaders('elicit'));
    const { inputRequests, requestState } = first.answer.result;
    const key = Object.keys(inputRequests)[0];
    const inputResponses = { [key]: { action: 'accept', content: { name: 'n' } } };
    return post(url, { jsonrpc: '2.0', id: id++, method: 'tools/call', params: { ...params, inputResponses, requestState } }, modernHeaders('elicit'));
  },
};

const rows = [];
for (const [name, run] of Object.entries(cases)) {
  for (let i = 0; i < Math.min(100, calls); i++) await run(); // warm-up (and the 2026 side's child)
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  rows.push({ name, ...summary(samples) });
}
bridge.kill('SIGTERM');

const base = rows[0];
console.log(`| Case (${calls} sequential calls) | p50 ms | p99 ms | p50 vs 2025 session |`);
console.log('|---|---|---|---|');
for (const row of rows) console.log(`| ${row.name} | ${row.p50.toFixed(3)} | ${row.p99.toFixed(3)} | ${(row.p50 / base.p50).toFixed(2)}× |`);
