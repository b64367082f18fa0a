/**
 * TEST-ONLY: data for the analytics tests, loaded the way production loads it (the ETL, the area
 * derivation), never inserted behind the code's back.
 */
import { syntheticSource, writeSyntheticCsv } from '../../scripts/lib/synthetic.js';
import { fixture } from '../../test/support/etl.js';
import { deriveZipAreas } from '../areas/derive.js';
import { declareShippedSources } from '../bootstrap.js';
import type { Database } from '../db/database.js';
import { runSource } from '../etl/run.js';
import type { SourceInput } from '../etl/source-config.js';
import { upsertSource } from '../etl/sources.js';
import { refreshAnalytics } from './refresh.js';

/**
 * The King County sample (closed sales, no listing dates) plus synthetic listings (list prices,
 * listing dates, every status and several types; their Seattle cluster overlaps the sample), and
 * the approximate ZIP areas derived from them, as a fresh install has.
 */
export async function loadMarket(db: Database, syntheticRows = 4000): Promise<void> {
  await declareShippedSources(db);
  const kc = await runSource(db, 'king-county');
  const path = fixture('', 'csv');
  await writeSyntheticCsv(path, syntheticRows);
  await upsertSource(db, syntheticSource(path));
  const syn = await runSource(db, 'synthetic');
  if (kc.status !== 'succeeded' || syn.status !== 'succeeded')
    throw new Error(`loading the test market failed: ${kc.error ?? syn.error}`);
  await deriveZipAreas(db);
  // Areas are not loaded by an ETL run, so nothing refreshed the per-area views for them.
  await refreshAnalytics(db);
}

export const SMALL_FEED_HEADER = 'id,status,type,price,living,listed,closed,modified,lat,lon';

/** A small feed with every column the analytics views read, for exact expectations. */
export function smallFeed(name: string, location: string): SourceInput {
  return {
    name,
    format: 'csv',
    location,
    mapping: {
      key: { fields: ['id'] },
      fields: {
        standard_status: {
          from: 'status',
          values: { A: 'Active', P: 'Pending', S: 'Closed', W: 'Withdrawn' },
        },
        property_type: 'type',
        list_price: 'price',
        living_area: 'living',
        listing_contract_date: 'listed',
        close_date: 'closed',
        modification_timestamp: 'modified',
        latitude: 'lat',
        longitude: 'lon',
      },
      bounds: [-123, 46, -121, 48.5],
    },
  };
}
