/** What the operator sees: metrics, readiness, the systemd watchdog, log formats. */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BRIDGE_BIN, FIXTURE, startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { startNotifyListener } from '../helpers/notify-listener.js';
import { INIT_BODY, MCP_HEADERS, connect, rawRequest } from '../helpers/client.js';

const cleanups: Array<() => void> = [];
afterEach(async () => {
  await stopAllBridges();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('metrics', () => {
  it('serves Prometheus metrics on their own listener', async () => {
    const bridge = await startBridge(['--metrics-listen', '127.0.0.1:0']);
    const metricsUrl = await waitFor(() => /metrics on (\S+)/.exec(bridge.stdout())?.[1], { what: 'the metrics URL' });
    expect(new URL(metricsUrl).port).not.toBe(new URL(bridge.url).port);
    const { client } = await connect(bridge.url);
    await client.callTool({ name: 'echo', arguments: { text: 'counted' } });
    await rawRequest(bridge.url, { headers: { ...MCP_HEADERS, origin: 'https://evil.example.com' }, body: JSON.stringify(INIT_BODY) });

    const text = await (await fetch(metricsUrl)).text();
    expect(metricValue(text, 'mcp_bridge_sessions_active', '{server="default"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_children_spawned_total', '{server="default"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_request_duration_seconds_count', '{server="default",method="tools/call"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_spawn_to_initialized_seconds_count', '{server="default"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_rejections_total', '{server="default",reason="origin"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_http_responses_total', '{status="403"}')).toBe(1);
    expect(metricValue(text, 'mcp_bridge_messages_total', '{server="default",direction="to_child"}')).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, 'mcp_bridge_message_bytes_total', '{server="default",direction="to_client"}')).toBeGreaterThan(100);

    await client.close();
    const { transport } = await connect(bridge.url);
    await transport.terminateSession();
    await bridge.waitForLog((l) => l.msg === 'session ended' && l.reason === 'deleted');
    const after = await (await fetch(metricsUrl)).text();
    expect(metricValue(after, 'mcp_bridge_sessions_ended_total', '{server="default",reason="deleted"}')).toBe(1);
    expect(metricValue(after, 'mcp_bridge_children_exited_total', '{server="default",status="SIGTERM"}')).toBe(1);
  });
});

describe('/readyz', () => {
  it('is ready while a session fits, not when every session is busy', async () => {
    const bridge = await startBridge(['--max-sessions', '1']);
    const readyz = bridge.url.replace(/\/mcp$/, '/readyz');
    expect((await rawRequest(readyz, { method: 'GET' })).status).toBe(200);
    const { client } = await connect(bridge.url); // its open GET stream keeps it busy
    const busy = await rawRequest(readyz, { method: 'GET' });
    expect(busy.status).toBe(503);
    expect(busy.json()).toMatchObject({ reason: 'every session is busy' });
    await client.close();
    await waitFor(async () => (await rawRequest(readyz, { method: 'GET' })).status === 200, { what: 'ready again' });
  });

  it('is not ready when the command cannot run; /healthz still is', async () => {
    const bridge = await startBridge([], ['/nonexistent/server']);
    const readyz = await rawRequest(bridge.url.replace(/\/mcp$/, '/readyz'), { method: 'GET' });
    expect(readyz.status).toBe(503);
    // The reason, but not the command: that is for the operator's log, not for anyone who asks.
    expect(readyz.json()).toMatchObject({ reason: 'the MCP server command cannot be run' });
    expect(readyz.body).not.toContain('/nonexistent/server');
    expect((await rawRequest(bridge.url.replace(/\/mcp$/, '/healthz'), { method: 'GET' })).status).toBe(200);
  });
});

describe('systemd watchdog', () => {
  it('sends WATCHDOG=1 at half of WATCHDOG_USEC', async () => {
    const { socket, lines, close } = await startNotifyListener();
    cleanups.push(close);
    await startBridge([], FIXTURE, { env: { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '400000' } });
    await waitFor(() => lines.filter((l) => l === 'WATCHDOG=1').length >= 3, { what: 'three watchdog pings' });
  });
});

describe('log formats', () => {
  it('writes JSON lines when stderr is not a terminal, readable lines with --log-format pretty', async () => {
    const json = await startBridge([]);
    await json.waitForLog((l) => l.msg === 'listening');
    const child = spawn(process.execPath, [BRIDGE_BIN, '--port', '0', '--log-format', 'pretty', '--', ...FIXTURE], { stdio: 'pipe' });
    let err = '';
    child.stderr.on('data', (chunk) => (err += chunk));
    await waitFor(() => err.includes('listening'), { what: 'a pretty log line' });
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(err).toMatch(/INFO.*listening/);
    expect(() => JSON.parse(err.split('\n')[0])).toThrow();
  });
});
