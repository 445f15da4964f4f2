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
