import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import type { Database } from '../database.js';
import { CopyStalledError, openPostgres } from './postgres.js';

let t: TestDatabase;
let db: Database;

beforeAll(async () => {
  t = await createTestDatabase();
  // Short enough for a test; the default is 30 s.
  db = openPostgres(t.url, { max: 2, copyFinishTimeoutMs: 1500 });
  await db.rows(sql`CREATE TABLE copied (n integer NOT NULL)`);
});
afterAll(async () => {
  await db.close();
  await t.drop();
});

async function* lines(...values: string[]) {
  for (const v of values) yield `${v}\n`;
}

/** The guard's error, or the server's own (22P02: not an integer) should a driver report it. */
const refused = (e: unknown) =>
  e instanceof CopyStalledError || (e as { code?: string }).code === '22P02';

const count = async () =>
  (await db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM copied`))[0]?.n;

describe('COPY through the postgres driver', () => {
  it('loads rows', async () => {
    await db.copyFrom('copied', ['n'], lines('1', '2', '3'));
    expect(await count()).toBe(3);
  });

  // porsager/postgres#1173: the server's refusal arrives after the last row was sent, and the
  // driver never settles the COPY. Without the guard this test hangs until vitest's timeout.
  it('fails, instead of hanging, when the server refuses the data after the last row', async () => {
    const started = performance.now();
    const attempt = db.transaction((tx) =>
      tx.copyFrom('copied', ['n'], lines('4', 'not a number')),
    );
    await expect(attempt).rejects.toSatisfy(refused);
    expect(performance.now() - started).toBeLessThan(10_000);
    // Nothing half-written, and the pool still works.
    expect(await count()).toBe(3);
  });

  // PostgreSQL discards the rest of the data and reports the refusal after CopyDone: the same
  // path as above, however early the bad row.
  it('fails, instead of hanging, when the server refuses a row in the middle of a long COPY', async () => {
    async function* many() {
      // ~20 MB: the refusal of row 1,000 arrives while most of it is still to be sent.
      for (let i = 0; i < 2_000_000; i++) yield i === 1000 ? 'oops\n' : `${i * 1000}\n`;
    }
    await expect(db.transaction((tx) => tx.copyFrom('copied', ['n'], many()))).rejects.toSatisfy(
      refused,
    );
    expect(await count()).toBe(3);
  });

  it('still runs queries and COPYs afterwards on every pooled connection', async () => {
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        db.copyFrom('copied', ['n'], lines('5')),
        db.copyFrom('copied', ['n'], lines('6')),
        db.transaction((tx) => tx.rows(sql`SELECT 1`)),
      ]);
    }
    expect(await count()).toBe(9);
  });
});
