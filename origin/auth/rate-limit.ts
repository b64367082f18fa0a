import { isIPv4, isIPv6 } from 'node:net';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';

/**
 * Sign-in attempts and failures, remembered in PostgreSQL as a sliding log: each row of
 * `rate_limit_windows` is one event on a key, `window_start` the instant it happened and `count`
 * 1 (more only when two events of one key fall on the same microsecond). In PostgreSQL rather
 * than in memory because every origin replica must see the same history (an attacker spreading
 * attempts over replicas would otherwise multiply the allowance) and a restart must not reset
 * it. A log rather than fixed windows because the backoff needs the time of the last failure,
 * not only how many there were. Failures are rare and each one has already cost a scrypt, so a
 * few statements per attempt are no load.
 */
export type EventKey = { key: string; windowSeconds: number };

/** What a key remembers within its window, before the event being decided on. */
export type RecentEvents = {
  count: number;
  /** Seconds since the newest event; null when there is none. */
  secondsSinceLast: number | null;
};

/** One recorded event, so it can be taken back (an attempt that was refused or succeeded). */
export type RecordedEvent = { key: string; at: string; before: RecentEvents };

type RecentRow = { n: number; since_last: number | null };

const windowStart = (seconds: number) => sql`now() - make_interval(secs => ${seconds})`;
const recent = (row: RecentRow | undefined): RecentEvents => ({
  count: row?.n ?? 0,
  secondsSinceLast: row?.since_last ?? null,
});

/** The events of a key within its window, without recording one. */
export async function recentEvents(db: Database, params: EventKey): Promise<RecentEvents> {
  const [row] = await db.rows<RecentRow>(sql`
    SELECT coalesce(sum(count), 0)::int AS n,
           extract(epoch FROM now() - max(window_start))::float8 AS since_last
    FROM rate_limit_windows
    WHERE key = ${params.key} AND window_start > ${windowStart(params.windowSeconds)}`);
  return recent(row);
}

/**
 * Record one event now and say what the key held before it. Under a transaction-scoped advisory
 * lock on the key, so attempts racing on one key are decided one after the other, each seeing
 * the ones before it: a burst sent in parallel cannot all pass a check made before any of them
 * was recorded. The lock lasts two statements; attempts on other keys never wait for it. The
 * key's events older than its window are dropped on the way.
 */
export async function recordEvent(db: Database, params: EventKey): Promise<RecordedEvent> {
  return db.transaction(async (tx) => {
    await tx.rows(sql`SELECT pg_advisory_xact_lock(hashtextextended(${params.key}, 0))`);
    return recordLocked(tx, params);
  });
}

async function recordLocked(db: Database, params: EventKey): Promise<RecordedEvent> {
  const [row] = await db.rows<RecentRow & { at: string }>(sql`
    WITH pruned AS (
      DELETE FROM rate_limit_windows
      WHERE key = ${params.key} AND window_start <= ${windowStart(params.windowSeconds)}
    ), prior AS (
      SELECT coalesce(sum(count), 0)::int AS n,
             extract(epoch FROM now() - max(window_start))::float8 AS since_last
      FROM rate_limit_windows
      WHERE key = ${params.key} AND window_start > ${windowStart(params.windowSeconds)}
    ), added AS (
      INSERT INTO rate_limit_windows (key, window_start, count) VALUES (${params.key}, now(), 1)
      ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_windows.count + 1
      RETURNING window_start::text AS at
    )
    SELECT prior.n, prior.since_last, added.at FROM prior, added`);
  if (!row) throw new Error(`recording an event on ${params.key} returned no row`);
  return { key: params.key, at: row.at, before: recent(row) };
}

/** Take one recorded event back. */
export async function forgetEvent(db: Database, event: Pick<RecordedEvent, 'key' | 'at'>) {
  // The two conditions exclude each other, so no row is touched twice by the one statement.
  await db.rows(sql`
    WITH gone AS (
      DELETE FROM rate_limit_windows
      WHERE key = ${event.key} AND window_start = ${event.at}::timestamptz AND count <= 1
    )
    UPDATE rate_limit_windows SET count = count - 1
    WHERE key = ${event.key} AND window_start = ${event.at}::timestamptz AND count > 1`);
}

/**
 * Move a recorded event to now, in one statement so the key's count never dips in between (an
 * attempt's failure counts from when its answer goes out, after the scrypt, not from when it
 * came in). Left where it is in the unlikely case another event holds that very microsecond.
 */
export async function restampEvent(db: Database, event: Pick<RecordedEvent, 'key' | 'at'>) {
  await db.rows(sql`
    UPDATE rate_limit_windows SET window_start = now()
    WHERE key = ${event.key} AND window_start = ${event.at}::timestamptz
      AND NOT EXISTS (
        SELECT 1 FROM rate_limit_windows WHERE key = ${event.key} AND window_start = now()
      )`);
}

/** Forget everything a key holds (a successful sign-in clears its own address's failures). */
export async function forgetKey(db: Database, key: string) {
  await db.rows(sql`DELETE FROM rate_limit_windows WHERE key = ${key}`);
}

/**
 * Drop the events of every key past `olderThanSeconds`. A key is pruned whenever it is written,
 * but the pairs of a spray from thousands of addresses are each written a few times and never
 * again; this sweeps them.
 */
export async function pruneEvents(
  db: Database,
  params: { prefix: string; olderThanSeconds: number },
) {
  await db.rows(sql`
    DELETE FROM rate_limit_windows
    WHERE key LIKE ${`${params.prefix}%`} AND window_start < ${windowStart(params.olderThanSeconds)}`);
}

export type Backoff = {
  /** Failures allowed before any wait. */
  free: number;
  /** The first wait; each further failure doubles it. */
  baseSeconds: number;
  maxSeconds: number;
};

/**
 * Seconds still to wait before the next attempt on a key, 0 when it may go ahead: nothing for the
 * first `free` failures, then base, 2 × base, 4 × base… after each further one, counted from the
 * last failure and capped at `maxSeconds` (OWASP's exponential backoff, in place of a lockout).
 *
 * @example
 *   backoffWait({ count: 11, secondsSinceLast: 0.5 }, { free: 10, baseSeconds: 1, maxSeconds: 900 }); // 2
 */
export function backoffWait(events: RecentEvents, policy: Backoff): number {
  if (events.count < policy.free || events.secondsSinceLast === null) return 0;
  const exponent = Math.min(events.count - policy.free, 30);
  const delay = Math.min(policy.baseSeconds * 2 ** exponent, policy.maxSeconds);
  const remaining = delay - events.secondsSinceLast;
  return remaining > 0 ? Math.ceil(remaining) : 0;
}

/**
 * The part of a client address that names one client: an IPv4 address whole, an IPv6 one by its
 * /64 (one subscriber gets a whole /64, so counting single IPv6 addresses would give an attacker
 * 2^64 allowances). Null (no address known, development without the edge) is one shared key.
 */
export function addressKey(ip: string | null | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return `other:${ip.slice(0, 64)}`;
  const [head = '', tail = ''] = ip.toLowerCase().split('::') as [string, string?];
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
