import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { Database } from '../../origin/db/database.js';
import type { RunSummary } from '../../origin/etl/run.js';
import type { SourceInput } from '../../origin/etl/source-config.js';
import { upsertSource } from '../../origin/etl/sources.js';

const dir = mkdtempSync(join(tmpdir(), 'estate-edge-test-'));
let counter = 0;

/** Write a fixture file (text or raw bytes) and return its absolute path. */
export function fixture(content: string | Uint8Array, extension = 'csv'): string {
  counter += 1;
  const path = join(dir, `fixture-${counter}.${extension}`);
  writeFileSync(path, content);
  return path;
}

export const HEADER = 'mls_id,status,price,beds,address,listed,lat,lon';

/** A small feed's source: every mapping feature the bad-input tests need. */
export function feedSource(
  name: string,
  location: string,
  mapping: Partial<SourceInput['mapping']> = {},
): SourceInput {
  return {
    name,
    format: 'csv',
    location,
    mapping: {
      key: { fields: ['mls_id'] },
      fields: {
        standard_status: { from: 'status', values: { A: 'Active', P: 'Pending', S: 'Closed' } },
        list_price: 'price',
        bedrooms_total: 'beds',
        unparsed_address: 'address',
        listing_contract_date: 'listed',
        latitude: 'lat',
        longitude: 'lon',
      },
      bounds: [-123, 46, -121, 48.5],
      ...mapping,
    },
  };
}

export async function declare(db: Database, source: SourceInput): Promise<void> {
  await upsertSource(db, source);
}

/** A fingerprint of every listing's content: equal before and after means nothing changed. */
export async function listingsChecksum(db: Database): Promise<{ count: number; md5: string }> {
  const [row] = await db.rows<{ count: number; md5: string }>(sql`
    SELECT count(*)::int AS count,
           coalesce(md5(string_agg(l::text, '|' ORDER BY id)), '') AS md5
    FROM (SELECT id, source_id, source_key, standard_status, list_price, close_price, geom, extra, updated_at FROM listings) l`);
  return row as { count: number; md5: string };
}

/** The accounting every run must balance. */
export function balanced(summary: RunSummary): boolean {
  return (
    summary.rowsRead ===
    summary.rowsInserted + summary.rowsUpdated + summary.rowsUnchanged + summary.rowsRejected
  );
}

export async function rejectsOf(db: Database, runId: number) {
  return db.rows<{ row_number: number; raw: string; reason: string }>(
    sql`SELECT row_number, raw, reason FROM etl_rejects WHERE run_id = ${runId} ORDER BY row_number`,
  );
}
