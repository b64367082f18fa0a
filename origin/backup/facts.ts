import type postgres from 'postgres';
import { quoteIdent } from './connection.js';
import type { ListingsFacts, Manifest } from './manifest.js';

/**
 * What a database holds, in numbers a restore must reproduce exactly: the row count of every user
 * table and a checksum of the listings. Computed at backup time inside the snapshot pg_dump reads
 * (so the numbers describe exactly the dumped data), and again on the restored copy.
 */

/**
 * The listings checksum, stated so anyone can recompute it by hand with psql. Each row's text form
 * covers every column in table order (geometry as hex EWKB, jsonb in its canonical form); hashing
 * each row first keeps the aggregate at 32 bytes a row instead of the whole table's text.
 */
export const LISTINGS_CHECKSUM_METHOD =
  "md5(string_agg(md5(l::text), '' ORDER BY l.id)) over every row of public.listings l, all columns, " +
  "with TimeZone=UTC, DateStyle='ISO, MDY', IntervalStyle=postgres, extra_float_digits=3";

export type DatabaseFacts = {
  database: string;
  serverVersion: string;
  postgisVersion: string | null;
  rowCounts: Record<string, number>;
  listings: ListingsFacts | null;
};

/**
 * Gather the facts inside `tx`. Session settings are pinned first: the text form of timestamptz
 * and floats depends on them, and the checksum must not change with the server's defaults.
 */
export async function databaseFacts(tx: postgres.TransactionSql): Promise<DatabaseFacts> {
  await tx`SET LOCAL TimeZone = 'UTC'`;
  await tx`SET LOCAL DateStyle = 'ISO, MDY'`;
  await tx`SET LOCAL IntervalStyle = 'postgres'`;
  await tx`SET LOCAL extra_float_digits = 3`;
  const [about] = await tx<{ database: string; server_version: string; postgis: string | null }[]>`
    SELECT current_database() AS database,
           current_setting('server_version') AS server_version,
           (SELECT extversion FROM pg_extension WHERE extname = 'postgis') AS postgis`;
  // Tables that belong to an extension (PostGIS's spatial_ref_sys) are the extension's business:
  // CREATE EXTENSION fills them on restore.
  const tables = await tx<{ schema: string; name: string }[]>`
    SELECT n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2`;
  const rowCounts: Record<string, number> = {};
  if (tables.length > 0) {
    const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
    const counts = await tx.unsafe<{ name: string; n: string }[]>(
      tables
        .map(
          (t) =>
            `SELECT ${literal(`${t.schema}.${t.name}`)} AS name, count(*)::int8 AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
        )
        .join('\nUNION ALL\n'),
    );
    for (const row of counts) rowCounts[row.name] = Number(row.n);
  }
  let listings: ListingsFacts | null = null;
  if (rowCounts['public.listings'] !== undefined) {
    const [row] = await tx<
      { rows: string; checksum: string; with_geom: string; extent: string | null }[]
    >`
      SELECT count(*)::int8 AS rows,
             md5(coalesce(string_agg(md5(l::text), '' ORDER BY l.id), '')) AS checksum,
             count(l.geom)::int8 AS with_geom,
             ST_Extent(l.geom)::text AS extent
      FROM public.listings l`;
    listings = {
      rows: Number(row?.rows),
      checksum: row?.checksum as string,
      with_geom: Number(row?.with_geom),
      extent: row?.extent ?? null,
    };
  }
  return {
    database: about?.database as string,
    serverVersion: about?.server_version as string,
    postgisVersion: about?.postgis ?? null,
    rowCounts,
    listings,
  };
}

/** Every way `facts` (a restored copy) differs from what `manifest` recorded; empty when equal. */
export function compareFacts(manifest: Manifest, facts: DatabaseFacts): string[] {
  const differences: string[] = [];
  const tables = new Set([...Object.keys(manifest.row_counts), ...Object.keys(facts.rowCounts)]);
  for (const table of [...tables].sort()) {
    const expected = manifest.row_counts[table];
    const actual = facts.rowCounts[table];
    if (expected === undefined) differences.push(`${table}: not in the backup, but restored`);
    else if (actual === undefined) differences.push(`${table}: missing after the restore`);
    else if (expected !== actual) {
      differences.push(`${table}: ${actual} rows restored, ${expected} backed up`);
    }
  }
  const want = manifest.listings;
  const got = facts.listings;
  if (want && !got) differences.push('listings: no listings table after the restore');
  if (want && got) {
    if (want.checksum !== got.checksum) {
      differences.push(`listings checksum: ${got.checksum} restored, ${want.checksum} backed up`);
    }
    if (want.with_geom !== got.with_geom) {
      differences.push(
        `listings with a geometry: ${got.with_geom} restored, ${want.with_geom} backed up`,
      );
    }
    if (want.extent !== got.extent) {
      differences.push(`listings extent: ${got.extent} restored, ${want.extent} backed up`);
    }
  }
  if (manifest.postgis_version && !facts.postgisVersion) {
    differences.push('PostGIS: installed when backed up, missing after the restore');
  }
  return differences;
}
