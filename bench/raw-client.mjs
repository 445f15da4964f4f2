// A lean MCP client for `--client raw`: node:http with keep-alive for Streamable HTTP, plain pipes for
// stdio, no schema validation, no GET stream. It exists to separate the server side's cost from the
// client's: the SDK client runs on fetch (undici) and web streams, which on this machine cost more
// per call than some gateways do, and that cost lands in every HTTP driver's latency but not in
// direct's. Same session interface as drivers.mjs: { client: { callTool }, pid, close() }.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { onAnswer } from './json-lines.mjs';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

const agent = new http.Agent({ keepAlive: true });
const initialize = (id) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-bridge-bench-raw', version: '1.0.0' } },
});

function request(url, method, body, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The JSON-RPC response with `id`, from a JSON body or from an SSE stream of events. */
function replyTo(res, id) {
  if (res.status >= 300) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 120)}`);
  const messages = String(res.headers['content-type']).startsWith('text/event-stream')
    ? res.text
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:') && line.slice(5).trim() !== '') // skip priming events
        .map((line) => JSON.parse(line.slice(5)))
    : [JSON.parse(res.text)].flat();
  const reply = messages.find((m) => m.id === id && !('method' in m));
  if (!reply) throw new Error(`no reply to ${id} in ${res.text.slice(0, 120)}`);
  if (reply.error) throw new Error(`JSON-RPC error ${reply.error.code}: ${reply.error.message}`);
  return reply.result;
}

export async function connectRawHttp(url, timeoutMs) {
  const init = await request(url, 'POST', initialize(0), {}, timeoutMs);
  const { protocolVersion } = replyTo(init, 0);
  const headers = { 'mcp-session-id': init.headers['mcp-session-id'], 'mcp-protocol-version': protocolVersion };
  const ack = await request(url, 'POST', { jsonrpc: '2.0', method: 'notifications/initialized' }, headers, timeoutMs);
  if (ack.status !== 202 && ack.status !== 200) throw new Error(`notifications/initialized: HTTP ${ack.status}`);
  let id = 0;
  return {
    id: headers['mcp-session-id'],
    pid: null,
    client: {
      async callTool(params, _schema, { timeout = timeoutMs } = {}) {
        const callId = ++id;
        const res = await request(url, 'POST', { jsonrpc: '2.0', id: callId, method: 'tools/call', params }, headers, timeout);
        return replyTo(res, callId);
      },
    },
    async close({ terminate = true } = {}) {
      if (terminate) await request(url, 'DELETE', undefined, headers, timeoutMs).catch(() => undefined);
    },
  };
}

export async function connectRawStdio(command, timeoutMs) {
  const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  const pending = new Map();
  onAnswer(child.stdout, (message) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(`JSON-RPC error ${message.error.code}: ${message.error.message}`));
    else waiter.resolve(message.result);
  });
  child.on('exit', () => {
    for (const waiter of pending.values()) waiter.reject(new Error('server exited'));
    pending.clear();
  });
  let id = 0;
  const call = (method, params, timeout = timeoutMs) =>
    new Promise((resolve, reject) => {
      const callId = ++id;
      const timer = setTimeout(() => {
        pending.delete(callId);
        reject(new Error(`${method} timed out`));
      }, timeout);
      pending.set(callId, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: callId, method, params })}\n`);
    });
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  await call('initialize', initialize(0).params);
  child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  return {
    pid: child.pid,
    client: { callTool: (params, _schema, { timeout } = {}) => call('tools/call', params, timeout) },
    async close() {
      // As the SDK does: end stdin (a stdio server's signal to go), then insist.
      child.stdin.end();
      const exited = new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}
