import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { postgis } from '@electric-sql/pglite-postgis';
import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import type { Database, Orm } from '../database.js';
import { quoteIdent } from '../database.js';
import * as schema from '../schema/index.js';
import { batched, sessionClient } from './postgres.js';

/**
 * The embedded default: PostgreSQL compiled to WASM, with PostGIS, in this process.
 * Differences from a real server, all handled here:
 * - COPY reads from a Blob (`/dev/blob`), not a stream, so rows are copied in 8 MB chunks.
 * - One connection: a transaction holds PGlite's lock, so other queries wait for it.
 * - No ST_AsMVT (PostGIS built without protobuf): vector tiles use a JS encoder instead.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = claimDataDir(dataDir);
  const pg = await PGlite.create(dataDir, { extensions: { postgis } });
  return wrap(pg, async () => {
    await pg.close();
    rmSync(lockFile, { force: true });
  });
}

export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
}

/**
 * PGlite is single-process: two processes opening one data directory corrupt it. A pid file
 * makes the second one stop with a clear message instead (the server and the CLI, typically).
 */
function claimDataDir(dataDir: string): string {
  const lockFile = join(dataDir, 'estate-edge.pid');
  let holder = Number.NaN;
  try {
    holder = Number(readFileSync(lockFile, 'utf8'));
  } catch {
    // no pid file: nobody holds it
  }
  if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
    throw new DataDirInUseError(
      `the embedded database at ${dataDir} is in use by process ${holder}; stop it first, or set DATABASE_URL to use a PostgreSQL server (which allows many processes)`,
    );
  }
  writeFileSync(lockFile, String(process.pid));
  return lockFile;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Named in-process locks: PGlite lives in one process, so this is the whole truth. */
const locks = new Map<string, Promise<void>>();

function wrap(client: PGlite | Transaction, close: () => Promise<void>, txOrm?: Orm): Database {
  const orm = txOrm ?? (drizzle(client as PGlite, { schema }) as unknown as Orm);
  const db: Database = {
    driver: 'pglite',
    orm,
    async rows<T extends Record<string, unknown>>(query: SQL) {
      const result = (await orm.execute(query)) as unknown as { rows: T[] };
      return result.rows;
    },
    async copyFrom(table, columns, lines) {
      const statement = `COPY ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) FROM '/dev/blob'`;
      for await (const chunk of batched(lines, 8 * 1024 * 1024)) {
        await client.query(statement, [], { blob: new Blob([chunk]) });
      }
    },
    async withLock(key, fn, options) {
      const held = locks.get(key);
      if (held && options?.wait === false) return { acquired: false };
      const previous = held ?? Promise.resolve();
      let release = () => {};
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const chained = previous.then(() => mine);
      locks.set(key, chained);
      await previous;
      try {
        return { acquired: true, value: await fn() };
      } finally {
        release();
        if (locks.get(key) === chained) locks.delete(key);
      }
    },
    async transaction(fn) {
      if (txOrm) return fn(db); // already inside one: join it
      return orm.transaction((tx) =>
        fn(wrap(sessionClient<Transaction>(tx), async () => {}, tx as unknown as Orm)),
      );
    },
    close,
  };
  return db;
}
