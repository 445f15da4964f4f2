/** sd_notify: READY=1 once the bridge accepts connections, STOPPING=1 on shutdown, over a real datagram socket. */
import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, stopAllBridges, waitFor } from '../helpers/bridge.js';
import { startNotifyListener, type NotifyListener } from '../helpers/notify-listener.js';
import { rawInitialize } from '../helpers/client.js';

const listeners: NotifyListener[] = [];
afterEach(async () => {
  await stopAllBridges();
  for (const listener of listeners.splice(0)) listener.close();
});

async function notifyListener() {
  const listener = await startNotifyListener();
  listeners.push(listener);
  return listener;
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
