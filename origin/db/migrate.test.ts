import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import migrationJournal from '../../migrations/meta/_journal.json' with { type: 'json' };
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { openDatabase } from './database.js';
import { migrate, migrationStatus } from './migrate.js';

/** Every migration in migrations/, counted from drizzle-kit's journal. */
const shipped = migrationJournal.entries.length;

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

describe('migrations', () => {
  it('create PostGIS and every table', async () => {
    const [postgis] = await t.db.rows<{ version: string }>(
      sql`SELECT extversion AS version FROM pg_extension WHERE extname = 'postgis'`,
    );
    expect(postgis?.version).toMatch(/^3\./);
    const tables = await t.db.rows<{ name: string }>(sql`
      SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
    expect(tables.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'areas',
        'etl_rejects',
        'etl_runs',
        'etl_sources',
        'listing_history',
        'listings',
      ]),
    );
  });

  it('store listing points as geometry(Point, 4326) behind a GiST index', async () => {
    const [column] = await t.db.rows<{ type: string; srid: number }>(sql`
      SELECT type, srid FROM geometry_columns WHERE f_table_name = 'listings' AND f_geometry_column = 'geom'`);
    expect(column).toEqual({ type: 'POINT', srid: 4326 });
    const indexes = await t.db.rows<{ name: string; definition: string }>(sql`
      SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE tablename = 'listings' ORDER BY 1`);
    const byName = Object.fromEntries(indexes.map((i) => [i.name, i.definition]));
    expect(byName.listings_geom_gist).toMatch(/USING gist \(geom\)/);
    expect(byName.listings_source_key_uq).toMatch(/UNIQUE INDEX .* \(source_id, source_key\)/);
    for (const name of [
      'listings_status_type_idx',
      'listings_list_price_idx',
      'listings_close_price_idx',
      'listings_close_date_idx',
      'listings_listing_contract_date_idx',
    ]) {
      expect(byName[name], name).toMatch(/USING btree/);
    }
  });

  it('refuse a listing with an unknown source or a duplicate source key', async () => {
    await expect(
      t.db.rows(
        sql`INSERT INTO listings (source_id, source_key, standard_status) VALUES (999, 'x', 'Active')`,
      ),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/foreign key/) } });
    const [source] = await t.db.rows<{ id: number }>(sql`
      INSERT INTO etl_sources (name, format, location, mapping) VALUES ('m', 'csv', 'x', '{}') RETURNING id`);
    await t.db.rows(
      sql`INSERT INTO listings (source_id, source_key, standard_status) VALUES (${source?.id}, 'k', 'Active')`,
    );
    await expect(
      t.db.rows(
        sql`INSERT INTO listings (source_id, source_key, standard_status) VALUES (${source?.id}, 'k', 'Active')`,
      ),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/duplicate key/) } });
  });

  it('are current, and applying them again changes nothing', async () => {
    expect(await migrationStatus(t.db)).toEqual({
      applied: shipped,
      available: shipped,
      current: true,
    });
    await migrate(t.db);
    expect(await migrationStatus(t.db)).toMatchObject({ applied: shipped, current: true });
  });

  it('can run from two processes at once (an advisory lock serialises them)', async () => {
    // Two independent pools stand for two processes starting together on a fresh database.
    const fresh = await createTestDatabase();
    await fresh.db.rows(sql`DROP SCHEMA drizzle CASCADE`);
    await fresh.db.rows(sql`DROP SCHEMA public CASCADE`);
    await fresh.db.rows(sql`CREATE SCHEMA public`);
    const other = await openDatabase({ url: fresh.url, dataDir: '', poolMax: 2 });
    try {
      await Promise.all([migrate(fresh.db), migrate(other)]);
      expect(await migrationStatus(fresh.db)).toEqual({
        applied: shipped,
        available: shipped,
        current: true,
      });
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});
