import postgres from 'postgres';
import { BusyError } from './errors.js';

/**
 * One backup job at a time (run, verify, prune), across processes and hosts: a PostgreSQL
 * advisory lock held by a session of its own. It goes away with the session, so a killed job never
 * leaves a stale lock behind, unlike a lock file.
 */
const LOCK_KEY = 'estate-edge:backup-job';

/** Run `fn` holding the job lock on the database at `url`; BusyError at once if it is taken. */
export async function withJobLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    // The session must outlive the longest dump: no recycling of the connection under the lock.
    max_lifetime: null,
    idle_timeout: 0,
    connection: { application_name: 'estate-edge-backup-lock' },
  });
  try {
    const [row] = await sql<{ locked: boolean }[]>`
      SELECT pg_try_advisory_lock(hashtextextended(${LOCK_KEY}, 0)) AS locked`;
    if (!row?.locked) {
      throw new BusyError('another backup job (run, verify or prune) is running: not starting');
    }
    try {
      return await fn();
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtextextended(${LOCK_KEY}, 0))`.catch(() => {});
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}
