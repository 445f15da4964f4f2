/** sd_notify: READY=1 once the bridge accepts connections, STOPPING=1 on shutdown, over a real datagram socket. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { rawInitialize } from '../helpers/client.js';

const cleanups: Array<() => void> = [];
afterEach(async () => {
  await stopAllBridges();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function notifyListener() {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-notify-'));
  const socket = join(dir, 'notify.sock');
  const listener = spawn('python3', [`${ROOT}test/fixtures/notify-listener.py`, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  listener.stdout.setEncoding('utf8');
  listener.stdout.on('data', (text: string) => lines.push(...text.split('\n').filter(Boolean)));
  cleanups.push(() => {
    listener.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(() => lines.includes('listening'), { what: 'the notify listener' });
  return { socket, lines };
}

describe('systemd notifications', () => {
  it('sends READY=1 after listening and STOPPING=1 on SIGTERM', async () => {
    const { socket, lines } = await notifyListener();
    const bridge = await startBridge([], undefined, { env: { NOTIFY_SOCKET: socket } });
    await waitFor(() => lines.includes('READY=1'), { what: 'READY=1' });
    // Ready means ready: a session can be opened right away.
    await rawInitialize(bridge.url);
    expect(lines.some((l) => l.startsWith('STATUS=Serving http://127.0.0.1:'))).toBe(true);
    expect(lines).not.toContain('STOPPING=1');
    expect(await bridge.stop('SIGTERM')).toBe(0);
    expect(lines).toContain('STOPPING=1');
  });

  it('stays silent without NOTIFY_SOCKET', async () => {
    const bridge = await startBridge([], undefined, { env: { NOTIFY_SOCKET: '' } });
    await rawInitialize(bridge.url);
    expect(bridge.logs.some((l) => l.msg === 'systemd notification failed')).toBe(false);
  });
});
