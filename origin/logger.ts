import pino from 'pino';

/**
 * JSON logs, one line per event. Anything that could carry a secret is redacted at the source:
 * authorization headers, cookies, database URLs and tokens never reach a log.
 */
export function createLogger(level: string) {
  return pino({
    level,
    base: { service: 'estate-edge-origin' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.password',
        '*.token',
        '*.databaseUrl',
        'DATABASE_URL',
      ],
      censor: '[redacted]',
    },
  });
}

export type Logger = ReturnType<typeof createLogger>;
