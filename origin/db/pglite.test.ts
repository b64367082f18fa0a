import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import migrationJournal from '../../migrations/meta/_journal.json' with { type: 'json' };
import { balanced, listingsChecksum } from '../../test/support/etl.js';
import { declareShippedSources } from '../bootstrap.js';
import { RunConflictError } from '../etl/errors.js';
import { projectRoot } from '../etl/fetch-input.js';
import { runSource, startRun } from '../etl/run.js';
import { searchListings } from '../routes/listings/search.js';
import { type Database, openDatabase } from './database.js';
import { DataDirInUseError, openPglite } from './drivers/pglite.js';
import { migrate, migrationStatus } from './migrate.js';

/** Every migration in migrations/, counted from drizzle-kit's journal. */
const shipped = migrationJournal.entries.length;

/**
 * The embedded default: the same migrations, ETL and queries on PGlite with PostGIS, in process.
 * A smaller set than on PostgreSQL (the first 3,000 sample rows), because PGlite is slower.
 */
const dir = mkdtempSync(join(tmpdir(), 'estate-edge-pglite-'));
const sample = readFileSync(
  join(projectRoot, 'origin/etl/samples/kc_house_data.csv'),
  'utf8',
).split('\n');
const subset = join(dir, 'kc-3000.csv');
writeFileSync(subset, `${sample.slice(0, 3001).join('\n')}\n`);
let db: Database;

beforeAll(async () => {
  db = await openDatabase({ dataDir: join(dir, 'data') });
  await migrate(db);
  await declareShippedSources(db);
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the embedded PGlite database', () => {
  it('is PGlite with PostGIS, migrated like a server', async () => {
    expect(db.driver).toBe('pglite');
    expect(await migrationStatus(db)).toEqual({
      applied: shipped,
      available: shipped,
      current: true,
    });
    const [row] = await db.rows<{ d: number }>(
      sql`SELECT ST_DistanceSphere(ST_MakePoint(-122.3, 47.6), ST_MakePoint(-122.3, 47.7))::int AS d`,
    );
    // 0.1 degree of latitude on the sphere PostGIS uses (radius 6,371,008.8 m).
    expect(row?.d).toBeGreaterThanOrEqual(11_119);
    expect(row?.d).toBeLessThanOrEqual(11_120);
  });

  it('loads the sample with the same ETL, and a re-run changes nothing', async () => {
    const first = await runSource(db, 'king-county', { location: subset });
    expect(first).toMatchObject({
      status: 'succeeded',
      rowsRead: 3000,
      rowsInserted: 3000,
      rowsRejected: 0,
    });
    const before = await listingsChecksum(db);
    const again = await runSource(db, 'king-county', { location: subset });
    expect(again).toMatchObject({ status: 'succeeded', rowsUnchanged: 3000 });
    expect(balanced(again)).toBe(true);
    expect(await listingsChecksum(db)).toEqual(before);
  });

  it('records price changes in the history and rejects bad rows', async () => {
    const [header, firstRow, ...rest] = sample.slice(0, 3001) as string[];
    const cheaper = (firstRow as string).replace(',221900.0,', ',199000.0,');
    const bad = (rest[0] as string).replace(/,47\.\d+,-122\.\d+,/, ',147.5,-122.3,');
    const changed = join(dir, 'kc-changed.csv');
    writeFileSync(changed, `${[header, cheaper, bad, ...rest.slice(1)].join('\n')}\n`);
    const summary = await runSource(db, 'king-county', { location: changed });
    expect(summary).toMatchObject({
      status: 'succeeded',
      rowsUpdated: 1,
      rowsRejected: 1,
      rowsUnchanged: 2998,
    });
    const history = await db.rows<{ previous: number; now: number; event: string }>(sql`
      SELECT previous_close_price::float8 AS previous, close_price::float8 AS now, event FROM listing_history`);
    expect(history).toEqual([{ previous: 221_900, now: 199_000, event: 'price' }]);
  });

  it('answers a bbox search through the same query code', async () => {
    const bbox = [-122.3, 47.5, -122.2, 47.6] as [number, number, number, number];
    const { items, next } = await searchListings(db, {
      where: { kind: 'bbox', bbox },
      filters: {},
      sort: 'price',
      limit: 500,
    });
    const [expected] = await db.rows<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM listings
      WHERE ST_X(geom) BETWEEN -122.3 AND -122.2 AND ST_Y(geom) BETWEEN 47.5 AND 47.6`);
    expect(items.length).toBeGreaterThan(10);
    expect(items.length).toBe(expected?.n);
    expect(next).toBeNull();
    for (const item of items) {
      expect(item.longitude).toBeGreaterThanOrEqual(-122.3);
      expect(item.latitude).toBeLessThanOrEqual(47.6);
    }
    const prices = items.map((i) => i.close_price ?? Number.POSITIVE_INFINITY);
    expect(prices).toEqual([...prices].sort((a, b) => a - b));
  });

  it('answers a nearest-first search through the same query code', async () => {
    const { items } = await searchListings(db, {
      where: { kind: 'near', lon: -122.3, lat: 47.6, radius: 5000 },
      filters: {},
      sort: 'distance',
      limit: 20,
    });
    // The same answer by brute force: every row's exact distance, no index, no KNN.
    const expected = await db.rows<{ id: number }>(sql`
      SELECT id::float8 AS id FROM (
        SELECT id, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(-122.3, 47.6), 4326)::geography) AS d
        FROM listings) x
      WHERE d <= 5000 ORDER BY d, id LIMIT 20`);
    expect(expected).toHaveLength(20);
    expect(items.map((i) => i.id)).toEqual(expected.map((e) => e.id));
    const distances = items.map((i) => i.distance_m as number);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
  });

  it('refuses a second run of a source while one is running', async () => {
    const first = await startRun(db, 'king-county', { location: subset });
    await expect(startRun(db, 'king-county', { location: subset })).rejects.toBeInstanceOf(
      RunConflictError,
    );
    expect((await first.finished).status).toBe('succeeded');
  });

  it('stops a second process from opening the same data directory', async () => {
    const shared = join(dir, 'shared');
    const owner = await openPglite(shared);
    try {
      // Another live process's pid stands in for a second process (our own pid is allowed).
      writeFileSync(join(shared, 'estate-edge.pid'), String(process.ppid));
      await expect(openPglite(shared)).rejects.toBeInstanceOf(DataDirInUseError);
    } finally {
      await owner.close();
    }
  });
});
