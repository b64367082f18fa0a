/** Bounded waiting: every wait in the suite has a deadline and says what it waited for. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` every `everyMs` until it returns something other than undefined; throws at the
 * deadline naming `what`.
 *
 * @example
 *   await until('the origin to answer', async () => ((await ping()) ? true : undefined), 10_000);
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** `promise`, or an error naming `what` once `timeoutMs` have passed. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The entry of `record` under `key`, created by `make` the first time. */
export function entry<V>(record: Record<string, V>, key: string, make: () => V): V {
  if (!(key in record)) record[key] = make();
  return record[key] as V;
}
