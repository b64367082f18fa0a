import { Cron } from 'croner';

// croner is imported statically, unlike cockatiel (origin-proxy/policy.ts): its module only builds
// constants at top level (Date.UTC of a fixed date, tables, an empty Map), nothing workerd refuses
// outside a handler, and a Cron made without a callback never arms a timer. The real bundle
// starting in Miniflare (test/e2e-scheduled.test.ts) is the proof.

/**
 * The latest time at or before `now` that `expression` fires, in UTC (Cloudflare's crons and the
 * origin's sources are both read in UTC), or null when it never fired or does not parse.
 *
 * @example
 *   latestFiring('0 7 * * *', Date.parse('2026-05-01T07:03:00Z')) // 2026-05-01T07:00:00.000Z
 */
export function latestFiring(expression: string, now: number): Date | null {
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone: 'Etc/UTC', paused: true });
  } catch {
    return null;
  }
  // previousRuns looks strictly before its reference: one millisecond later includes `now`.
  return cron.previousRuns(1, new Date(now + 1))[0] ?? null;
}

/** Whether `expression` is a cron croner accepts (the origin checks sources the same way). */
export function isValidCron(expression: string): boolean {
  try {
    new Cron(expression, { timezone: 'Etc/UTC', paused: true });
    return true;
  } catch {
    return false;
  }
}

/** `2026-05-01T07:05`: the minute a trigger fired, the unit of "the same slot". */
export function slotOf(time: number | Date): string {
  return new Date(time).toISOString().slice(0, 16);
}
