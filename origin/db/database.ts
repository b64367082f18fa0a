import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type * as schema from './schema/index.js';

export type Orm = PgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * The one seam between our code and the two drivers (postgres on a real server, PGlite embedded).
 * Everything above it is driver-agnostic; the differences (result shape, COPY, transactions) are
 * isolated in `drivers/postgres.ts` and `drivers/pglite.ts`.
 */
export interface Database {
  readonly driver: 'postgres' | 'pglite';
  /** drizzle over this connection (or this transaction). */
  readonly orm: Orm;
  /** Run a query and return its rows as objects. */
  rows<T extends Record<string, unknown>>(query: SQL): Promise<T[]>;
  /**
   * `COPY table (columns) FROM STDIN` in text format. `lines` are already-escaped rows, each
   * ending in '\n'. Streams on postgres; on PGlite it copies in bounded chunks (PGlite only
   * copies from a Blob), so memory stays bounded either way.
   */
  copyFrom(table: string, columns: readonly string[], lines: AsyncIterable<string>): Promise<void>;
  /**
   * Run `fn` while holding a named lock shared by every process on this database (a PostgreSQL
   * advisory lock; in-process on PGlite, which has one process by construction). With
   * `wait: false` it returns `{ acquired: false }` at once when someone else holds the lock.
   */
  withLock<T>(
    key: string,
    fn: () => Promise<T>,
    options?: { wait?: boolean },
  ): Promise<{ acquired: true; value: T } | { acquired: false }>;
  /** Run `fn` in a transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type DatabaseOptions = {
  /** A postgres:// URL; without it the embedded PGlite database under `dataDir` is used. */
  url?: string | undefined;
  dataDir: string;
  poolMax?: number;
};

/** Open the configured database. The driver modules are loaded lazily: each pulls in a lot. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) {
    const { openPostgres } = await import('./drivers/postgres.js');
    return openPostgres(options.url, { max: options.poolMax ?? 10 });
  }
  const { openPglite } = await import('./drivers/pglite.js');
  return openPglite(options.dataDir);
}

/** Quote an SQL identifier (table or column) for the few statements built as text (COPY). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
