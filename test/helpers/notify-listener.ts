/** A real systemd notification socket (a Python datagram listener) that records what the bridge sends. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, waitFor } from './bridge.js';

export interface NotifyListener {
  socket: string;
  lines: string[];
  close(): void;
}

export async function startNotifyListener(): Promise<NotifyListener> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-bridge-notify-'));
  const socket = join(dir, 'notify.sock');
  const listener = spawn('python3', [`${ROOT}test/fixtures/notify-listener.py`, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  listener.stdout.setEncoding('utf8');
  listener.stdout.on('data', (text: string) => lines.push(...text.split('\n').filter(Boolean)));
  const close = () => {
    listener.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  await waitFor(() => lines.includes('listening'), { what: 'the notify listener' }).catch((error) => {
    close();
    throw error;
  });
  return { socket, lines, close };
}
