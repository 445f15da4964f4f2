/**
 * Readiness for systemd (Type=notify): READY=1 once listening, STOPPING=1 when shutting down.
 * Node cannot send unix datagrams, so the notification goes through systemd's own `systemd-notify`,
 * which waits until the manager has read it (the unit needs NotifyAccess=all, since the sender is a child).
 */
import { execFile } from 'node:child_process';
import type { Logger } from './log.js';

export type Notifier = (...assignments: string[]) => Promise<void>;

/** Returns a notifier that does nothing when the bridge was not started by systemd (no NOTIFY_SOCKET). */
export function createNotifier(socket: string | undefined, log: Logger): Notifier {
  if (!socket) return async () => undefined;
  return (...assignments) =>
    new Promise((resolve) => {
      execFile('systemd-notify', assignments, { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 10_000 }, (error) => {
        if (error) log.warn({ err: error.message, assignments }, 'systemd notification failed');
        resolve();
      });
    });
}

/** Keeps systemd's watchdog fed from the event loop: a blocked loop stops the pings and systemd restarts us. */
export function startWatchdog(notify: Notifier, intervalMs: number): NodeJS.Timeout {
  const timer = setInterval(() => void notify('WATCHDOG=1'), Math.max(100, intervalMs / 2));
  timer.unref();
  return timer;
}
