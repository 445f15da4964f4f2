/** JSON-lines logs on stderr (pino: fast, structured, widely used). Message payloads are never logged at info. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous so that the last lines before an exit are not lost.
    pino.destination({ fd: 2, sync: true }),
  );
}
