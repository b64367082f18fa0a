import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type postgres from 'postgres';

/** The `listings` columns the ETL fills from a synthetic feed, in the order of the COPY text. */
export const LISTING_COPY_COLUMNS = [
  'source_id',
  'source_key',
  'standard_status',
  'property_type',
  'list_price',
  'close_price',
  'bedrooms_total',
  'bathrooms_total',
  'living_area',
  'lot_size_area',
  'year_built',
  'unparsed_address',
  'city',
  'state_or_province',
  'postal_code',
  'listing_contract_date',
  'close_date',
  'geom',
  'extra',
] as const;

/**
 * Turn a synthetic CSV (scripts/lib/synthetic.ts) into COPY text for LISTING_COPY_COLUMNS: what a
 * loader that did no parsing, validation or merging would send. The synthetic CSV has no quotes,
 * escapes, tabs or backslashes, so splitting on commas is exact; an empty field is NULL. The
 * point goes in as EWKT, which PostGIS's geometry input parses during COPY.
 */
export async function writeListingsCopyText(
  csvPath: string,
  copyPath: string,
  sourceId: number,
): Promise<number> {
  const out = createWriteStream(copyPath);
  const field = (value: string | undefined) => (value ? value : '\\N');
  let rows = 0;
  let rest = '';
  let header = true;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    if (!out.write(batch.join(''))) await once(out, 'drain');
    batch = [];
  };
  for await (const chunk of createReadStream(csvPath, { encoding: 'utf8' })) {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (header) {
        header = false;
        continue;
      }
      if (line === '') continue;
      const f = line.split(',');
      // CSV order: key, status, type, list, close, beds, baths, living, lot, year, address,
      // city, state, postal, listed, closed, latitude, longitude (SYNTHETIC_HEADER).
      batch.push(
        `${sourceId}\t${f.slice(0, 16).map(field).join('\t')}\tSRID=4326;POINT(${f[17]} ${f[16]})\t{}\n`,
      );
      rows += 1;
      if (batch.length === 5000) await flush();
    }
  }
  if (rest !== '') throw new Error(`${csvPath} does not end with a newline`);
  await flush();
  out.end();
  await once(out, 'finish');
  return rows;
}

/**
 * Stream a COPY text file into `table` with `COPY … FROM STDIN`: the fastest way into
 * PostgreSQL from a client, so the limit any loader on the same connection can reach.
 * Reads in 256 KiB chunks, the size the ETL's own COPY writes are batched to.
 */
export async function copyFileInto(
  sql: postgres.Sql,
  table: string,
  columns: readonly string[],
  path: string,
): Promise<void> {
  // Names are ours (constants above and the benchmark's table names), not user input.
  const sink = await sql.unsafe(`COPY ${table} (${columns.join(', ')}) FROM STDIN`).writable();
  await pipeline(createReadStream(path, { highWaterMark: 256 * 1024 }), sink);
}
