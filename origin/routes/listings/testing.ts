import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SQL, sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { syntheticSource, writeSyntheticCsv } from '../../../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { createApp } from '../../app.js';
import { declareShippedSources } from '../../bootstrap.js';
import type { Database } from '../../db/database.js';
import { runSource } from '../../etl/run.js';
import { upsertSource } from '../../etl/sources.js';
import { createLogger } from '../../logger.js';

/** Test support for the listings routes (not a test file itself). */

/** Every listing as plain values, read without any index's help: the tests' ground truth. */
export type Row = {
  id: number;
  standard_status: string;
  property_type: string | null;
  list_price: number | null;
  close_price: number | null;
  bedrooms_total: number | null;
  bathrooms_total: number | null;
  living_area: number | null;
  year_built: number | null;
  listing_contract_date: string | null;
  close_date: string | null;
  longitude: number;
  latitude: number;
};

export type Fixture = {
  t: TestDatabase;
  db: Database;
  app: ReturnType<typeof createApp>;
  /** SQL the routes ran since the last `captured.length = 0`, for EXPLAIN. */
  captured: SQL[];
  all: () => Promise<Row[]>;
};

/**
 * A fresh database with the King County sample (21,597 closed sales, through the real ETL) and,
 * with `synthetic`, that many synthetic listings (every status and type, list prices, listing
 * dates; some in Seattle, overlapping King County).
 */
export async function loadFixture(options: { synthetic?: number } = {}): Promise<Fixture> {
  const t = await createTestDatabase();
  await declareShippedSources(t.db);
  expect((await runSource(t.db, 'king-county')).status).toBe('succeeded');
  if (options.synthetic) {
    const path = join(mkdtempSync(join(tmpdir(), 'estate-edge-listings-')), 'synthetic.csv');
    await writeSyntheticCsv(path, options.synthetic);
    await upsertSource(t.db, syntheticSource(path));
    expect((await runSource(t.db, 'synthetic')).status).toBe('succeeded');
  }
  await t.db.rows(sql`ANALYZE listings`);
  const captured: SQL[] = [];
  const db: Database = {
    ...t.db,
    rows: (query) => {
      captured.push(query);
      return t.db.rows(query);
    },
  };
  return {
    t,
    db: t.db,
    app: createApp({ db, logger: createLogger('silent') }),
    captured,
    all: () =>
      t.db.rows<Row>(sql`
        SELECT id::float8 AS id, standard_status, property_type, list_price::float8 AS list_price,
               close_price::float8 AS close_price, bedrooms_total, bathrooms_total::float8 AS bathrooms_total,
               living_area, year_built, listing_contract_date::text AS listing_contract_date,
               close_date::text AS close_date, ST_X(geom) AS longitude, ST_Y(geom) AS latitude
        FROM listings`),
  };
}

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  request_id?: string;
};

/** Assert an RFC 9457 problem with this status and return it. */
export async function expectProblem(response: Response, status: number): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await response.json()) as Problem;
  expect(body).toMatchObject({ status, type: 'about:blank' });
  expect(body.detail.length).toBeGreaterThan(0);
  expect(body.detail.length).toBeLessThan(1000);
  expect(body.request_id).toBe(response.headers.get('x-request-id'));
  return body;
}

/** The plan of a captured query, as EXPLAIN (ANALYZE) text. */
export async function explain(db: Database, query: SQL): Promise<string> {
  const rows = await db.rows<{ 'QUERY PLAN': string }>(sql`EXPLAIN (ANALYZE, COSTS OFF) ${query}`);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}
