import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { type RunOptions, runSource } from './run.js';
import type { SourceInput } from './source-config.js';

/**
 * Every bad-input case from the foundation issue, each against real PostGIS. The invariants
 * checked every time: the run's accounting balances, nothing stored before is lost, and a
 * rejected row says why in words a person can act on.
 */
let t: TestDatabase;
let n = 0;
const good = (key: string) => `${key},A,450000,3,1 Pine St,2024-05-01,47.6,-122.3`;

beforeAll(async () => {
  t = await createTestDatabase();
  // Something stored before any bad input arrives: it must survive everything below.
  await declare(t.db, feedSource('existing', fixture(`${HEADER}\n${good('E1')}\n${good('E2')}\n`)));
  expect((await runSource(t.db, 'existing')).rowsInserted).toBe(2);
});
afterAll(async () => {
  await t.drop();
});

async function run(
  content: string | Uint8Array,
  mapping: Partial<SourceInput['mapping']> = {},
  options: RunOptions = {},
  format: SourceInput['format'] = 'csv',
) {
  n += 1;
  const name = `bad-${n}`;
  const source = feedSource(
    name,
    fixture(content, format === 'csv' ? 'csv' : format === 'ndjson' ? 'ndjson' : 'geojson'),
    mapping,
  );
  await declare(t.db, { ...source, format });
  const before = await listingsChecksum(t.db);
  const summary = await runSource(t.db, name, options);
  const rejects = await rejectsOf(t.db, summary.runId);
  if (summary.status === 'failed') expect(await listingsChecksum(t.db)).toEqual(before);
  else expect(balanced(summary)).toBe(true);
  expect(rejects).toHaveLength(summary.status === 'failed' ? 0 : summary.rowsRejected);
  return { summary, rejects };
}

describe('a file that cannot be read fails the run and changes nothing', () => {
  it('names the delimiter when the file uses another one', async () => {
    const { summary } = await run(
      `${HEADER.replaceAll(',', ';')}\n${good('D1').replaceAll(',', ';')}\n`,
    );
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatch(/missing required columns: .*mls_id/);
    expect(summary.error).toMatch(/delimited by ";"/);
  });

  it('names the missing required columns', async () => {
    const { summary } = await run('mls_id,status,price\nM1,A,100\n');
    expect(summary.status).toBe('failed');
    for (const column of ['beds', 'address', 'listed', 'lat', 'lon'])
      expect(summary.error).toContain(column);
    expect(summary.error).toMatch(
      /^missing required columns: .*\(the header has: mls_id, status, price\)/,
    );
  });

  it('refuses an empty file', async () => {
    const { summary } = await run('');
    expect(summary).toMatchObject({ status: 'failed', error: expect.stringMatching(/empty/) });
  });

  it('accepts a header-only file as zero rows', async () => {
    const { summary } = await run(`${HEADER}\n`);
    expect(summary).toMatchObject({ status: 'succeeded', rowsRead: 0 });
  });

  it('fails with a clear error when the file does not exist', async () => {
    const { summary } = await run(`${HEADER}\n`, {}, { location: '/nonexistent/feed.csv' });
    expect(summary).toMatchObject({
      status: 'failed',
      error: 'no such file: /nonexistent/feed.csv',
    });
  });
});

describe('format quirks that are still good data', () => {
  it('reads a file with a UTF-8 byte order mark', async () => {
    const { summary } = await run(`\uFEFF${HEADER}\n${good('BOM1')}\n`);
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 1 });
  });

  it('reads CRLF line endings without keeping the CR', async () => {
    const { summary } = await run(`${HEADER}\r\n${good('CR1')}\r\n${good('CR2')}\r\n`);
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 2 });
    const [row] = await t.db.rows<{ address: string }>(
      sql`SELECT unparsed_address AS address FROM listings WHERE source_key = 'CR2'`,
    );
    expect(row?.address).toBe('1 Pine St');
  });

  it('keeps quoted fields with commas, quotes and newlines intact', async () => {
    const { summary } = await run(
      `${HEADER}\nQ1,A,1,2,"Apt 4, ""The Pines""\nSeattle",2024-01-01,47.5,-122.5\n`,
    );
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 1 });
    const [row] = await t.db.rows<{ address: string }>(
      sql`SELECT unparsed_address AS address FROM listings WHERE source_key = 'Q1'`,
    );
    expect(row?.address).toBe('Apt 4, "The Pines"\nSeattle');
  });

  it('stores SQL metacharacters as plain text', async () => {
    const hostile = `Robert'); DROP\tTABLE listings;--\\N`;
    const { summary } = await run(`${HEADER}\nSQL1,A,1,2,"${hostile}",2024-01-01,47.5,-122.5\n`);
    expect(summary.status).toBe('succeeded');
    const [row] = await t.db.rows<{ address: string }>(
      sql`SELECT unparsed_address AS address FROM listings WHERE source_key = 'SQL1'`,
    );
    expect(row?.address).toBe(hostile);
  });
});

describe('bad rows are rejected one by one, with a reason, and the rest load', () => {
  it('rejects bytes that are not UTF-8, and reads them with encoding latin1', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`${HEADER}\n${good('U1')}\nU2,A,1,2,Caf`),
      Buffer.from([0xe9]),
      Buffer.from(' St,2024-01-01,47.5,-122.5\n'),
    ]);
    const utf8 = await run(bytes);
    expect(utf8.summary).toMatchObject({ status: 'succeeded', rowsInserted: 1, rowsRejected: 1 });
    expect(utf8.rejects[0]?.reason).toMatch(/not valid UTF-8.*latin1/);

    const latin1 = await run(bytes, { encoding: 'latin1' });
    expect(latin1.summary).toMatchObject({ rowsRejected: 0 });
    const [row] = await t.db.rows<{ address: string }>(
      sql`SELECT unparsed_address AS address FROM listings WHERE source_key = 'U2'`,
    );
    expect(row?.address).toBe('Café St');
  });

  it('rejects a 10 MB field without storing 10 MB', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const { summary, rejects } = await run(
      `${HEADER}\n${good('BIG0')}\nBIG1,A,1,2,${huge},2024-01-01,47.5,-122.5\n${good('BIG2')}\n`,
    );
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 2, rowsRejected: 1 });
    expect(rejects[0]?.row_number).toBe(2);
    expect(rejects[0]?.reason).toBe(
      "field 'address' is 10,485,760 characters long; the limit is 65,536",
    );
    expect(rejects[0]?.raw.length).toBeLessThan(5000);
  });

  it('rejects coordinates out of range or given alone, and says when they look swapped', async () => {
    const { summary, rejects } = await run(
      `${HEADER}\nC1,A,1,2,a,2024-01-01,147.6,-122.3\nC2,A,1,2,b,2024-01-01,-122.3,47.6\nC3,A,1,2,c,2024-01-01,47.6,\nC4,A,1,2,c,2024-01-01,0,0\n${good('C5')}\n`,
    );
    expect(summary).toMatchObject({ rowsInserted: 1, rowsRejected: 4 });
    expect(rejects.map((r) => r.reason)).toEqual([
      'latitude: must be between -90 and 90 (got 147.6)',
      'latitude -122.3 is out of range and longitude 47.6 is a valid latitude: latitude and longitude look swapped',
      'latitude: latitude and longitude must be given together (got 47.6)',
      "point (0, 0) is outside the source's bounds [-123, 46, -121, 48.5]",
    ]);
  });

  it('uses the source bounds to catch swapped coordinates that are still valid degrees', async () => {
    const paris = { bounds: [2.2, 48.8, 2.5, 48.95] as [number, number, number, number] };
    const { rejects } = await run(
      `${HEADER}\nP1,A,1,2,a,2024-01-01,2.35,48.85\nP2,A,1,2,a,2024-01-01,48.85,2.35\n`,
      paris,
    );
    expect(rejects).toHaveLength(1);
    expect(rejects[0]?.reason).toBe(
      "point (48.85, 2.35) is outside the source's bounds [2.2, 48.8, 2.5, 48.95]; latitude and longitude look swapped",
    );
  });

  it('rejects negative prices and says which field', async () => {
    const { rejects } = await run(`${HEADER}\nN1,A,-450000,3,a,2024-01-01,47.5,-122.5\n`);
    expect(rejects[0]?.reason).toBe('list_price: must not be negative (got -450000)');
  });

  it('keeps the last of duplicate keys in one file and rejects the earlier ones', async () => {
    const { summary, rejects } = await run(
      `${HEADER}\nK1,A,100,1,first,2024-01-01,47.5,-122.5\nK1,A,200,1,second,2024-01-01,47.5,-122.5\nK2,A,1,1,x,2024-01-01,47.5,-122.5\nK1,P,300,1,third,2024-01-01,47.5,-122.5\n`,
    );
    expect(summary).toMatchObject({ rowsRead: 4, rowsInserted: 2, rowsRejected: 2 });
    expect(rejects.map((r) => [r.row_number, r.reason])).toEqual([
      [1, 'duplicate key K1: row 4 of the same file has the same key and replaces this row'],
      [2, 'duplicate key K1: row 4 of the same file has the same key and replaces this row'],
    ]);
    const [row] = await t.db.rows<{ price: number }>(
      sql`SELECT list_price::float8 AS price FROM listings WHERE source_key = 'K1'`,
    );
    expect(row?.price).toBe(300);
  });

  it('rejects a truncated last line and loads the rows before it', async () => {
    const { summary, rejects } = await run(`${HEADER}\n${good('T1')}\n${good('T2')}\nT3,A,45`);
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 2, rowsRejected: 1 });
    expect(rejects[0]).toMatchObject({ row_number: 3, raw: 'T3,A,45' });
    expect(rejects[0]?.reason).toMatch(/wrong number of fields/);
  });

  it('rejects an unclosed quote at the end of the file', async () => {
    const { summary, rejects } = await run(
      `${HEADER}\n${good('UQ1')}\nUQ2,A,1,2,"never closed,2024-01-01,47.5,-122.5\n`,
    );
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 1, rowsRejected: 1 });
    expect(rejects[0]?.reason).toMatch(/never closed/);
  });

  it('rejects a NUL character, which PostgreSQL cannot store', async () => {
    const { rejects } = await run(`${HEADER}\nZ1,A,1,2,bad\u0000byte,2024-01-01,47.5,-122.5\n`);
    expect(rejects[0]?.reason).toMatch(/NUL/);
  });

  it('rejects an unknown status, an impossible date and a non-number, each with its value', async () => {
    const { rejects } = await run(
      `${HEADER}\nS1,Sold!,1,2,a,2024-01-01,47.5,-122.5\nS2,A,1,2,a,2024-02-30,47.5,-122.5\nS3,A,lots,2,a,2024-01-01,47.5,-122.5\nS4,A,1,2.5,a,2024-01-01,47.5,-122.5\n`,
    );
    expect(rejects.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^standard_status: 'Sold!' is not a RESO StandardStatus/),
      "listing_contract_date (from 'listed'): '2024-02-30' is not a real date",
      "list_price (from 'price'): 'lots' is not a number",
      "bedrooms_total (from 'beds'): '2.5' is not a whole number",
    ]);
  });

  it('rejects a row with an empty key', async () => {
    const { rejects } = await run(`${HEADER}\n,A,1,2,a,2024-01-01,47.5,-122.5\n`);
    expect(rejects[0]?.reason).toBe("key field 'mls_id' is empty");
  });
});

describe('JSON formats', () => {
  const mapping: Partial<SourceInput['mapping']> = {
    key: { fields: ['id'] },
    fields: {
      standard_status: 'status',
      list_price: 'price.amount',
      latitude: '$lat',
      longitude: '$lon',
    },
  };

  it('reads NDJSON with nested fields and rejects a broken line', async () => {
    const lines = [
      '{"mls_id":"J1","status":"A","price":1,"beds":2,"address":"x","listed":"2024-01-01","lat":47.5,"lon":-122.5}',
      '{not json',
      '[1,2]',
      '',
    ];
    const { summary, rejects } = await run(lines.join('\n'), {}, {}, 'ndjson');
    expect(summary).toMatchObject({ rowsInserted: 1, rowsRejected: 2 });
    expect(rejects.map((r) => r.reason)).toEqual([
      expect.stringMatching(/^not valid JSON/),
      'each line must be a JSON object',
    ]);
  });

  it('reads a GeoJSON FeatureCollection of points and rejects other geometries', async () => {
    const features = [
      {
        type: 'Feature',
        id: 'G1',
        properties: { id: 'G1', status: 'Active', price: { amount: 5 } },
        geometry: { type: 'Point', coordinates: [-122.5, 47.5] },
      },
      {
        type: 'Feature',
        properties: { id: 'G2', status: 'Active' },
        geometry: { type: 'Polygon', coordinates: [] },
      },
    ];
    const { summary, rejects } = await run(
      JSON.stringify({ type: 'FeatureCollection', features }),
      mapping,
      {},
      'geojson',
    );
    expect(summary).toMatchObject({ rowsInserted: 1, rowsRejected: 1 });
    expect(rejects[0]?.reason).toBe('geometry must be a Point with [lon, lat], got Polygon');
    const [row] = await t.db.rows<{ price: number; lon: number }>(
      sql`SELECT list_price::float8 AS price, ST_X(geom) AS lon FROM listings WHERE source_key = 'G1'`,
    );
    expect(row).toEqual({ price: 5, lon: -122.5 });
  });

  it('fails a GeoJSON file that is not valid JSON', async () => {
    const { summary } = await run(
      '{"type":"FeatureCollection","features":[{"type":"Feature",',
      mapping,
      {},
      'geojson',
    );
    expect(summary).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/not a valid GeoJSON/),
    });
  });
});

// Found by the reliability suite's fuzz pass: a reason or an error that quoted a NUL made
// PostgreSQL refuse the COPY or the run record, and the run hung or stayed "running".
describe('a NUL anywhere in a feed', () => {
  const mapping: Partial<SourceInput['mapping']> = {
    key: { fields: ['id'] },
    fields: { standard_status: 'status', list_price: 'price', latitude: 'lat', longitude: 'lon' },
  };
  const line = (id: string, extra = '') =>
    `{"id":"${id}","status":"Active","price":1${extra},"lat":47.5,"lon":-122.5}`;

  it('in an NDJSON field name: the row is rejected with the NUL shown, the rest load', async () => {
    const { summary, rejects } = await run(
      [line('N1'), line('N2', ',"bad\\u0000name":1'), `${line('N3')}\u0000`, line('N4')].join('\n'),
      mapping,
      {},
      'ndjson',
    );
    expect(summary).toMatchObject({ status: 'succeeded', rowsInserted: 2, rowsRejected: 2 });
    expect(rejects.map((r) => r.reason)).toEqual([
      expect.stringContaining('bad\\0name'),
      expect.stringMatching(/^not valid JSON/),
    ]);
    for (const r of rejects) expect(r.reason).not.toContain('\u0000');
    expect(rejects[1]?.raw).toContain('\\0');
  });

  it('in a CSV header: the run fails with a readable error and is not left running', async () => {
    const { summary } = await run(
      `${HEADER.replace('status', 'sta\u0000tus')}\n${good('H1')}\n`,
      {},
      {},
      'csv',
    );
    expect(summary).toMatchObject({ status: 'failed', error: expect.stringContaining('\\0') });
    const [record] = await t.db.rows<{ status: string; error: string }>(
      sql`SELECT status, error FROM etl_runs WHERE id = ${summary.runId}`,
    );
    expect(record).toMatchObject({ status: 'failed', error: summary.error });
  });
});

describe('what was stored before', () => {
  it('is still there, unchanged, after all of the above', async () => {
    const rows = await t.db.rows<{ source_key: string }>(sql`
      SELECT l.source_key FROM listings l JOIN etl_sources s ON s.id = l.source_id WHERE s.name = 'existing' ORDER BY 1`);
    expect(rows.map((r) => r.source_key)).toEqual(['E1', 'E2']);
  });
});
