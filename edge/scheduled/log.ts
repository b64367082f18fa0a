type Level = 'info' | 'warn' | 'error';

/**
 * One JSON line, like the access log's (`wrangler tail`, Workers Logs). Fields are chosen by the
 * caller: never a webhook URL, a token or an origin error body (they may carry secrets).
 *
 * @example
 *   logLine('warn', 'monitoring store unavailable', { job: 'health', reason });
 */
export function logLine(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/** An error's message, short and on one line, for logs and alert details. */
export function describeError(error: unknown, max = 200): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
