// Logs: JSON lines on stdout (one child logger per component, `log.child({ component })`);
// human-readable colour lines when stdout is a terminal (`--log-format auto`, the default).
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

/** `auto`: pretty on a terminal, JSON otherwise. Decided by main.ts, which knows the terminal. */
export function logFormat(setting: (typeof LOG_FORMATS)[number], isTty: boolean): LogFormat {
  if (setting !== 'auto') return setting;
  return isTty ? 'pretty' : 'json';
}

export function createLogger(name: string, level: LogLevel, format: LogFormat = 'json'): Logger {
  const options = {
    name,
    level,
    base: { name, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (format === 'pretty') {
    // Synchronous on purpose: a terminal reader wants lines in order, throughput does not matter here.
    return pino(
      options,
      pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' }),
    );
  }
  return pino(options, pino.destination({ fd: 1, sync: false }));
}

/** A logger that drops everything, for unit tests and library callers that pass none. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
