import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import {
  balanced,
  declare,
  feedSource,
  fixture,
  HEADER,
  listingsChecksum,
  rejectsOf,
} from '../../test/support/etl.js';
import { declareShippedSources } from '../bootstrap.js';
import { RunConflictError } from './errors.js';
import { runSource, startRun } from './run.js';
import { getSource, upsertSource } from './sources.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
});
afterAll(async () => {
  await t.drop();
});

describe('the King County sample', () => {
  it('loads every sale as a Closed listing with its point, and keeps the other fields', async () => {
    const summary = await runSource(t.db, 'king-county');
    expect(summary).toMatchObject({
      status: 'succeeded',
      rowsRead: 21_597,
      rowsInserted: 21_597,
      rowsRejected: 0,
    });
    expect(balanced(summary)).toBe(true);

    const [sale] = await t.db.rows<Record<string, unknown>>(sql`
      SELECT standard_status, close_price::float8 AS close_price, close_date::text AS close_date, bedrooms_total,
             bathrooms_total::float8 AS bathrooms_total, living_area, postal_code, ST_X(geom) AS lon, ST_Y(geom) AS lat,
             ST_SRID(geom) AS srid, extra
      FROM listings WHERE source_key = '7129300520:2014-10-13'`);
    expect(sale).toMatchObject({
      standard_status: 'Closed',
      close_price: 221_900,
      close_date: '2014-10-13',
      bedrooms_total: 3,
      bathrooms_total: 1,
      living_area: 1180,
      postal_code: '98178',
      lon: -122.257,
      lat: 47.5112,
      srid: 4326,
    });
    // Blank waterfront is null, so it is not kept; the rest of the row is.
    expect(sale?.extra).toMatchObject({ grade: '7', sqft_above: '1180' });
    expect(sale?.extra).not.toHaveProperty('waterfront');
  });

  it('keeps a parcel sold twice as two listings (a sale is id + date)', async () => {
    const [row] = await t.db.rows<{ parcels: number; sales: number }>(sql`
      SELECT count(DISTINCT split_part(source_key, ':', 1))::int AS parcels, count(*)::int AS sales FROM listings`);
    expect(row?.sales).toBe(21_597);
    expect(row?.parcels).toBe(21_597 - 177);
  });

  it('treats ? as no value (sqft_basement is ? in 454 rows)', async () => {
    const [row] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listings WHERE NOT extra ? 'sqft_basement'`,
    );
    expect(row?.n).toBe(454);
  });

  it('changes nothing when the same file is read again', async () => {
    const before = await listingsChecksum(t.db);
    const summary = await runSource(t.db, 'king-county');
    expect(summary).toMatchObject({
      status: 'succeeded',
      rowsUnchanged: 21_597,
      rowsInserted: 0,
      rowsUpdated: 0,
    });
    expect(await listingsChecksum(t.db)).toEqual(before);
    const [history] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listing_history`,
    );
    expect(history?.n).toBe(0);
  });

  it('keeps the searches index-backed: a bbox filter uses the GiST index', async () => {
    const plan = await t.db.rows<{ 'QUERY PLAN': string }>(sql`
      EXPLAIN SELECT id FROM listings WHERE geom && ST_MakeEnvelope(-122.35, 47.6, -122.3, 47.65, 4326)`);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/listings_geom_gist/);
  });
});

describe('change history', () => {
  it('records price and status changes with the values before and after', async () => {
    await declare(
      t.db,
      feedSource(
        'history-feed',
        fixture(
          `${HEADER}\nH1,A,500000,3,1 Main St,2024-01-02,47.6,-122.3\nH2,A,700000,4,2 Main St,2024-01-03,47.61,-122.31\nH3,A,900000,5,3 Main St,2024-01-04,47.62,-122.32\n`,
        ),
      ),
    );
    expect((await runSource(t.db, 'history-feed')).rowsInserted).toBe(3);

    const changed = fixture(
      `${HEADER}\nH1,A,480000,3,1 Main St,2024-01-02,47.6,-122.3\nH2,P,700000,4,2 Main St,2024-01-03,47.61,-122.31\nH3,S,850000,5,3 Main St,2024-01-04,47.62,-122.32\n`,
    );
    const summary = await runSource(t.db, 'history-feed', { location: changed });
    expect(summary).toMatchObject({
      status: 'succeeded',
      rowsUpdated: 3,
      rowsInserted: 0,
      rowsUnchanged: 0,
    });

    const history = await t.db.rows<Record<string, unknown>>(sql`
      SELECT l.source_key, h.event, h.previous_status, h.standard_status,
             h.previous_list_price::float8 AS previous_list_price, h.list_price::float8 AS list_price, h.run_id
      FROM listing_history h JOIN listings l ON l.id = h.listing_id ORDER BY l.source_key`);
    expect(history).toEqual([
      {
        source_key: 'H1',
        event: 'price',
        previous_status: 'Active',
        standard_status: 'Active',
        previous_list_price: 500_000,
        list_price: 480_000,
        run_id: summary.runId,
      },
      {
        source_key: 'H2',
        event: 'status',
        previous_status: 'Active',
        standard_status: 'Pending',
        previous_list_price: 700_000,
        list_price: 700_000,
        run_id: summary.runId,
      },
      {
        source_key: 'H3',
        event: 'price_status',
        previous_status: 'Active',
        standard_status: 'Closed',
        previous_list_price: 900_000,
        list_price: 850_000,
        run_id: summary.runId,
      },
    ]);
  });

  it('updates a listing whose other fields changed without adding history', async () => {
    const source = await getSource(t.db, { name: 'history-feed' });
    const renamed = fixture(`${HEADER}\nH1,A,480000,3,1 Main Street,2024-01-02,47.6,-122.3\n`);
    const summary = await runSource(t.db, source.name, { location: renamed });
    expect(summary).toMatchObject({ rowsUpdated: 1 });
    const [row] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listing_history WHERE run_id = ${summary.runId}`,
    );
    expect(row?.n).toBe(0);
  });
});

describe('runs', () => {
  it('refuses a second run of a source while one is running', async () => {
    await declare(
      t.db,
      feedSource(
        'busy-feed',
        fixture(
          `${HEADER}\n${Array.from({ length: 20_000 }, (_, i) => `B${i},A,${100_000 + i},3,${i} Elm St,2024-02-01,47.5,-122.2`).join('\n')}\n`,
        ),
      ),
    );
    const first = await startRun(t.db, 'busy-feed');
    await expect(startRun(t.db, 'busy-feed')).rejects.toBeInstanceOf(RunConflictError);
    expect((await first.finished).status).toBe('succeeded');
    // Once it ended, the source runs again.
    expect((await runSource(t.db, 'busy-feed')).rowsUnchanged).toBe(20_000);
  });

  it('records the run: counts, timings, status, and who started it', async () => {
    const summary = await runSource(t.db, 'history-feed', { trigger: 'test' });
    const [run] = await t.db.rows<Record<string, unknown>>(
      sql`SELECT * FROM etl_runs WHERE id = ${summary.runId}`,
    );
    // The source's own file undoes the changes made above: three updates.
    expect(run).toMatchObject({
      status: 'succeeded',
      trigger: 'test',
      rows_read: 3,
      rows_updated: 3,
      rows_rejected: 0,
      error: null,
    });
    expect(run?.finished_at).not.toBeNull();
    expect(Object.keys(run?.timings as object)).toEqual(
      expect.arrayContaining(['read', 'merge', 'total']),
    );
  });
});

describe('remote sources', () => {
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  const body = readFileSync(
    fixture(
      `${HEADER}\nR1,A,300000,2,9 Bay Rd,2024-03-01,47.7,-122.4\nR2,S,310000,2,11 Bay Rd,2024-03-02,47.71,-122.41\n`,
    ),
  );

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/feed.csv') return res.end(body);
      if (path === '/flaky.csv') {
        if ((hits.get(path) ?? 0) < 3) {
          res.statusCode = 503;
          return res.end('try later');
        }
        return res.end(body);
      }
      if (path === '/hang.csv') return; // never answers
      res.statusCode = 404;
      res.end('not here');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A feed server on loopback is an internal one: the operator names it (origin/etl/feed-policy.ts).
    vi.stubEnv('ETL_HTTP_ALLOW_HOSTS', '127.0.0.1');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fetches a feed over http', async () => {
    await declare(t.db, feedSource('remote-feed', `${base}/feed.csv`));
    const summary = await runSource(t.db, 'remote-feed');
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 2 });
  });

  it('retries a 503 with backoff and then succeeds', async () => {
    await declare(t.db, feedSource('flaky-feed', `${base}/flaky.csv`));
    const summary = await runSource(t.db, 'flaky-feed', { fetch: { retries: 3 } });
    expect(summary.status).toBe('succeeded');
    expect(hits.get('/flaky.csv')).toBe(3);
  });

  it('fails the run at once on a 404, without retrying, and says so', async () => {
    await declare(t.db, feedSource('missing-feed', `${base}/gone.csv`));
    const before = await listingsChecksum(t.db);
    const summary = await runSource(t.db, 'missing-feed', { fetch: { retries: 3 } });
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/404/);
    expect(hits.get('/gone.csv')).toBe(1);
    expect(await listingsChecksum(t.db)).toEqual(before);
  });

  it('fails the run on a timeout with a clear error', async () => {
    await declare(t.db, feedSource('hanging-feed', `${base}/hang.csv`));
    const summary = await runSource(t.db, 'hanging-feed', {
      fetch: { retries: 1, timeoutMs: 300 },
    });
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/no response within 300 ms/);
    expect(hits.get('/hang.csv')).toBe(2);
  });
});

describe('source definitions', () => {
  it('refuses an invalid definition with the reason', async () => {
    await expect(
      upsertSource(t.db, { ...feedSource('bad-cron', '/x.csv'), schedule: 'every tuesday' }),
    ).rejects.toThrow(/cron/);
    await expect(upsertSource(t.db, { ...feedSource('Bad Name', '/x.csv') })).rejects.toThrow(
      /lowercase/,
    );
  });

  it('refuses a run of a source that does not exist', async () => {
    await expect(runSource(t.db, 'nope')).rejects.toThrow(/no source named 'nope'/);
  });

  it('stores the rejects of a run with row numbers', async () => {
    await declare(
      t.db,
      feedSource(
        'reject-feed',
        fixture(
          `${HEADER}\nJ1,A,100,1,a,2024-01-01,47.5,-122.5\nJ2,A,-5,1,b,2024-01-01,47.5,-122.5\n`,
        ),
      ),
    );
    const summary = await runSource(t.db, 'reject-feed');
    expect(await rejectsOf(t.db, summary.runId)).toEqual([
      {
        row_number: 2,
        raw: 'J2,A,-5,1,b,2024-01-01,47.5,-122.5',
        reason: 'list_price: must not be negative (got -5)',
      },
    ]);
  });
});
