/**
 * The process logger: JSON lines (pino), secrets redacted wherever they could appear.
 *
 * Standard output is written at most 4 KiB (PIPE_BUF) and whole lines at a time, so the lines of
 * several worker processes sharing one pipe or file never tear into each other (a single line
 * longer than that, a rare stack trace, could).
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

const REDACT = [
  'password',
  'secret',
  'token',
  '*.password',
  '*.secret',
  '*.token',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

const PIPE_BUF = 4096;

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'berth' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(options, (destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false, maxWrite: PIPE_BUF }));
}
