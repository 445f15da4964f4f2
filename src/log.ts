/**
 * Logs on stderr (pino: fast, structured, widely used): JSON lines, or readable lines through pino-pretty.
 * Message payloads are never logged at info; secrets that could reach a log line are redacted.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel, format: LogFormat): Logger {
  const options = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: ['authorization', 'headers.authorization', '*.authorization', 'token', '*.token'], censor: '[redacted]' },
  };
  // Synchronous so that the last lines before an exit are not lost.
  const destination =
    format === 'pretty'
      ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss.l' })
      : pino.destination({ fd: 2, sync: true });
  return pino(options, destination);
}

/** Lines of one kind (one limit, one client) at most this often. */
const THROTTLE_MS = 10_000;
/** Kinds remembered at once; a flood of new ones forgets the oldest. */
const THROTTLE_KEYS = 1024;

/**
 * Warnings that a flood must not turn into a flood of log lines: for each key, the first is logged, then at
 * most one per THROTTLE_MS, with how many were held back since the last one.
 */
export class ThrottledWarnings {
  private readonly seen = new Map<string, { at: number; held: number }>();

  constructor(private readonly log: Logger) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = performance.now();
    const entry = this.seen.get(key);
    if (entry && now - entry.at < THROTTLE_MS) {
      entry.held++;
      return;
    }
    this.seen.delete(key);
    if (this.seen.size >= THROTTLE_KEYS) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, { at: now, held: 0 });
    this.log.warn(entry?.held ? { ...fields, heldBack: entry.held } : fields, message);
  }
}
