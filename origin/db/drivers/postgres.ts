import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SQL } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Database, Orm } from '../database.js';
import { quoteIdent } from '../database.js';
import * as schema from '../schema/index.js';

type Client = postgres.Sql | postgres.TransactionSql;

export type PostgresOptions = {
  max: number;
  /** How long a COPY may take to finish once its last row is sent (see copyFinished). */
  copyFinishTimeoutMs?: number;
};

export function openPostgres(url: string, options: PostgresOptions): Database {
  const sql = postgres(url, {
    max: options.max,
    // Notices (e.g. "relation already exists, skipping") are not worth a log line each.
    onnotice: () => {},
    connection: {
      application_name: 'estate-edge-origin',
      // ETL staging lives in a temporary table; with the default 8 MB of temp buffers a big feed
      // spills to disk. Allocated only when a session uses temporary tables.
      temp_buffers: '256MB',
    },
  });
  const copyFinishTimeoutMs = options.copyFinishTimeoutMs ?? 30_000;
  return wrap(sql, { copyFinishTimeoutMs }, async () => {
    await sql.end({ timeout: 5 });
  });
}

type WrapOptions = { copyFinishTimeoutMs: number };

function wrap(
  client: Client,
  options: WrapOptions,
  close: () => Promise<void>,
  txOrm?: Orm,
): Database {
  const orm = txOrm ?? (drizzle(client as postgres.Sql, { schema }) as unknown as Orm);
  const db: Database = {
    driver: 'postgres',
    orm,
    async rows<T extends Record<string, unknown>>(query: SQL) {
      return (await orm.execute(query)) as unknown as T[];
    },
    async copyFrom(table, columns, lines) {
      // On the pool, postgres.js may pipeline another caller's query onto the connection while
      // it is in COPY mode; PostgreSQL then ends that session ("protocol synchronization was
      // lost"). A transaction holds one connection for the COPY alone.
      if (!txOrm) return db.transaction((tx) => tx.copyFrom(table, columns, lines));
      const cols = columns.map(quoteIdent).join(', ');
      const sink: Writable = await client
        .unsafe(`COPY ${quoteIdent(table)} (${cols}) FROM STDIN`)
        .writable();
      let sent!: () => void;
      const allSent = new Promise<void>((resolve) => {
        sent = resolve;
      });
      async function* rows() {
        yield* batched(lines);
        sent();
      }
      await copyFinished(
        pipeline(Readable.from(rows()), sink),
        allSent,
        options.copyFinishTimeoutMs,
      );
    },
    async withLock(key, fn, options) {
      if (!('reserve' in client)) throw new Error('withLock cannot be used inside a transaction');
      // A session-level advisory lock belongs to one connection: reserve one for its lifetime.
      const conn = await client.reserve();
      try {
        const id = `estate-edge:${key}`;
        if (options?.wait === false) {
          const [row] = await conn`SELECT pg_try_advisory_lock(hashtext(${id})) AS ok`;
          if (!row?.ok) return { acquired: false };
        } else {
          await conn`SELECT pg_advisory_lock(hashtext(${id}))`;
        }
        try {
          return { acquired: true, value: await fn() };
        } finally {
          await conn`SELECT pg_advisory_unlock(hashtext(${id}))`;
        }
      } finally {
        conn.release();
      }
    },
    async transaction(fn) {
      if (txOrm) return fn(db); // already inside one: join it
      // drizzle's transaction, so drizzle queries inside run on the transaction's connection;
      // its session holds that connection's raw client, which COPY needs.
      return orm.transaction((tx) =>
        fn(wrap(sessionClient<Client>(tx), options, async () => {}, tx as unknown as Orm)),
      );
    },
    close,
  };
  return db;
}

/** A COPY the server refused after its last row was sent, which the driver never reported. */
export class CopyStalledError extends Error {
  readonly code = 'COPY_STALLED';
}

/**
 * Waits for a COPY to finish, but not forever. PostgreSQL reports a row it refuses only after
 * the client's CopyDone (it discards the rest of the data first), and postgres.js 3.4 has let go
 * of the COPY's stream by then, so its error is dropped and the COPY never settles
 * (porsager/postgres#1173): the pipeline would hang, and whatever holds the connection (a
 * transaction, the ETL's source lock) with it. A finished COPY is acknowledged within
 * milliseconds of its last row, so a long silence means a refusal. The connection itself is fine
 * (the server has sent ReadyForQuery): throwing rolls the transaction back on it.
 */
async function copyFinished(done: Promise<void>, allSent: Promise<void>, timeoutMs: number) {
  // A rejection after the deadline has no one left to hear it.
  done.catch(() => {});
  await Promise.race([done, allSent]);
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CopyStalledError(
            `PostgreSQL did not finish the COPY within ${timeoutMs / 1000} s of its last row: it refused the data (a value it cannot store) and the error was lost`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([done, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** The raw driver client behind a drizzle transaction (not part of drizzle's typed API). */
export function sessionClient<T>(tx: unknown): T {
  return (tx as { session: { client: T } }).session.client;
}

/** Join many small lines into ~256 KB writes: one socket write per line is the slow part. */
async function* batched(lines: AsyncIterable<string>, bytes = 256 * 1024) {
  let buffer: string[] = [];
  let size = 0;
  for await (const line of lines) {
    buffer.push(line);
    size += line.length;
    if (size >= bytes) {
      yield buffer.join('');
      buffer = [];
      size = 0;
    }
  }
  if (buffer.length > 0) yield buffer.join('');
}

export { batched };
