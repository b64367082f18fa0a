/** A check that did not answer within its budget. */
export class TimeoutError extends Error {
  readonly code = 'TIMEOUT' as const;
}

/**
 * Settle with `work`, or reject with a TimeoutError after `ms`. The work itself is not cancelled
 * (a query on a hung connection cannot be), but the caller stops waiting: a probe of a hung
 * database must answer "down", not hang with it.
 *
 * @example
 *   await withTimeout(db.rows(sql`SELECT 1`), 2_000, 'database ping');
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    // The loser may still reject later (the hung query ends when the pool closes): nobody awaits
    // it any more, so mark it handled rather than crash the process with an unhandled rejection.
    work.catch(() => {});
  }
}
