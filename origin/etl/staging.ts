import { type SQL, sql } from 'drizzle-orm';
import type { Database } from '../db/database.js';
import { type MappableField, mappableFields } from './source-config.js';
import type { StagedListing } from './transform.js';

/**
 * The staging table: every row read, good or bad, in file order. Good rows carry their converted
 * fields; bad ones only `raw` and `reason`. One COPY stream fills it (a second statement on the
 * connection cannot run while COPY is open, so rejects travel in the same stream), then set-based
 * SQL finds duplicates, stores rejects and merges. It is a temporary table dropped on commit:
 * not WAL-logged, invisible to other sessions, gone if the process dies.
 */
export const STAGING_TABLE = 'etl_staging';

const columnTypes: Record<MappableField, string> = {
  standard_status: 'text',
  property_type: 'text',
  list_price: 'numeric',
  close_price: 'numeric',
  bedrooms_total: 'smallint',
  bathrooms_total: 'numeric',
  living_area: 'numeric',
  lot_size_area: 'numeric',
  year_built: 'smallint',
  unparsed_address: 'text',
  street_number: 'text',
  street_name: 'text',
  unit_number: 'text',
  city: 'text',
  state_or_province: 'text',
  postal_code: 'text',
  country: 'text',
  listing_contract_date: 'date',
  close_date: 'date',
  modification_timestamp: 'timestamptz',
  latitude: 'float8',
  longitude: 'float8',
};

export const STAGING_COLUMNS = [
  'row_number',
  'source_key',
  ...mappableFields,
  'extra',
  'raw',
  'reason',
] as const;

export async function createStagingTable(tx: Database): Promise<void> {
  const fields = mappableFields.map((f) => `${f} ${columnTypes[f]}`).join(', ');
  await tx.rows(
    sql.raw(
      `CREATE TEMP TABLE ${STAGING_TABLE} (row_number integer NOT NULL, source_key text, ${fields}, extra jsonb, raw text, reason text) ON COMMIT DROP`,
    ),
  );
}

/**
 * COPY text format: tab-separated, `\N` for null, backslash escapes for \, tab, newline and
 * carriage return. Hand-written: it is the innermost loop of a load and has no good library.
 */
function copyValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'object'
        ? JSON.stringify(value)
        : String(value);
  // NUL too: PostgreSQL cannot store it in text at all, and refusing it mid-COPY fails the whole
  // run. Rows carrying one are rejected before this; a reason or raw line that quotes one shows it
  // as the two characters \0.
  return /[\\\t\n\r\0]/.test(text) ? text.replace(/[\\\t\n\r\0]/g, escapeChar) : text;
}

const escapes: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\0': '\\\\0',
};

function escapeChar(c: string): string {
  return escapes[c] ?? c;
}

export function stagedLine(rowNumber: number, listing: StagedListing): string {
  let line = `${rowNumber}\t${copyValue(listing.source_key)}`;
  for (const field of mappableFields) line += `\t${copyValue(listing[field])}`;
  return `${line}\t${copyValue(listing.extra)}\t\\N\t\\N\n`;
}

/** Longest raw row kept for a reject: enough to see what was wrong, not a 10 MB copy. */
const MAX_RAW = 4096;

export function rejectedLine(rowNumber: number, raw: string, reason: string): string {
  const shown = raw.length > MAX_RAW ? `${raw.slice(0, MAX_RAW)}… (${raw.length} characters)` : raw;
  const empties = '\t\\N'.repeat(mappableFields.length + 2);
  return `${rowNumber}${empties}\t${copyValue(shown)}\t${copyValue(reason)}\n`;
}

/**
 * A key seen more than once in one file: the last row wins (feeds append newer states), the
 * earlier ones become rejects that say which row replaced them.
 */
export async function rejectDuplicateKeys(tx: Database): Promise<void> {
  await tx.rows(sql`
    WITH dup AS (
      SELECT source_key FROM etl_staging WHERE reason IS NULL GROUP BY source_key HAVING count(*) > 1
    ), ranked AS (
      SELECT s.row_number, s.source_key, max(s.row_number) OVER (PARTITION BY s.source_key) AS kept
      FROM etl_staging s JOIN dup USING (source_key) WHERE s.reason IS NULL
    )
    UPDATE etl_staging s
    SET reason = format('duplicate key %s: row %s of the same file has the same key and replaces this row', r.source_key, r.kept),
        raw = (to_jsonb(s.*) - 'raw' - 'reason' - 'row_number')::text
    FROM ranked r
    WHERE s.row_number = r.row_number AND r.row_number < r.kept`);
}

export type StagedCounts = { read: number; rejected: number };

export async function stagedCounts(tx: Database): Promise<StagedCounts> {
  const [row] = await tx.rows<{ read: number; rejected: number }>(sql`
    SELECT count(*)::int AS read, count(*) FILTER (WHERE reason IS NOT NULL)::int AS rejected FROM etl_staging`);
  return { read: row?.read ?? 0, rejected: row?.rejected ?? 0 };
}

export async function storeRejects(tx: Database, runId: number): Promise<void> {
  await tx.rows(sql`
    INSERT INTO etl_rejects (run_id, row_number, raw, reason)
    SELECT ${runId}, row_number, coalesce(raw, ''), reason FROM etl_staging WHERE reason IS NOT NULL ORDER BY row_number`);
}

/** Listing columns written by a merge, with how each is computed from the staged row `s`. */
const listingValues: [string, string][] = [
  ['standard_status', 's.standard_status'],
  ['property_type', 's.property_type'],
  ['list_price', 's.list_price'],
  ['close_price', 's.close_price'],
  ['bedrooms_total', 's.bedrooms_total'],
  ['bathrooms_total', 's.bathrooms_total'],
  ['living_area', 'round(s.living_area)::int'],
  ['lot_size_area', 'round(s.lot_size_area)::int'],
  ['year_built', 's.year_built'],
  ['unparsed_address', 's.unparsed_address'],
  ['street_number', 's.street_number'],
  ['street_name', 's.street_name'],
  ['unit_number', 's.unit_number'],
  ['city', 's.city'],
  ['state_or_province', 's.state_or_province'],
  ['postal_code', 's.postal_code'],
  ['country', 's.country'],
  ['listing_contract_date', 's.listing_contract_date'],
  ['close_date', 's.close_date'],
  ['modification_timestamp', 's.modification_timestamp'],
  [
    'geom',
    'CASE WHEN s.longitude IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(s.longitude, s.latitude), 4326) END',
  ],
  ['extra', "coalesce(s.extra, '{}'::jsonb)"],
];

export type MergeCounts = { inserted: number; updated: number; history: number };

/** Whether the source has no listings yet: its first load needs no merge at all. */
export async function sourceIsEmpty(tx: Database, sourceId: number): Promise<boolean> {
  const [row] = await tx.rows<{ empty: boolean }>(
    sql`SELECT NOT EXISTS (SELECT 1 FROM listings WHERE source_id = ${sourceId}) AS empty`,
  );
  return row?.empty ?? false;
}

/**
 * A source's first load: a plain INSERT. Nothing can conflict (duplicates were rejected in
 * staging, and the source's lock keeps other runs out) and nothing has a history yet, so the
 * upsert's snapshot join and ON CONFLICT checks are pure cost.
 */
export async function insertStaged(
  tx: Database,
  sourceId: number,
  runId: number,
): Promise<MergeCounts> {
  const columns = listingValues.map(([c]) => c);
  const [row] = await tx.rows<{ inserted: number }>(sql`
    WITH inserted AS (
      INSERT INTO listings (source_id, source_key, last_run_id, ${sql.raw(columns.join(', '))})
      SELECT ${sourceId}, s.source_key, ${runId}, ${sql.raw(listingValues.map(([, v]) => v).join(', '))}
      FROM etl_staging s WHERE s.reason IS NULL
      RETURNING 1
    )
    SELECT count(*)::int AS inserted FROM inserted`);
  return { inserted: row?.inserted ?? 0, updated: 0, history: 0 };
}

/**
 * One statement merges the good staged rows into `listings` and writes the history of changes
 * (a new listing has no history row: its first state is the listing itself, or the `previous_*`
 * of its first change; a row per new listing cost a third of a fresh load). Data-modifying
 * CTEs share one snapshot, so `prior` still sees the values from before the upsert: that is what
 * lets the history record old and new price and status without a second pass. A row whose values
 * are all unchanged is not touched at all (the WHERE on DO UPDATE), so re-running a feed writes
 * nothing. `xmax = 0` on the returned row tells an insert from an update.
 */
export async function mergeStaged(
  tx: Database,
  sourceId: number,
  runId: number,
): Promise<MergeCounts> {
  const columns = listingValues.map(([c]) => c);
  const changed = columns.map((c) => `l.${c}`).join(', ');
  const incoming = columns.map((c) => `excluded.${c}`).join(', ');
  const statement: SQL = sql`
    WITH prior AS (
      SELECT l.id, l.standard_status, l.list_price, l.close_price
      FROM etl_staging s JOIN listings l ON l.source_id = ${sourceId} AND l.source_key = s.source_key
      WHERE s.reason IS NULL
    ), merged AS (
      INSERT INTO listings AS l (source_id, source_key, last_run_id, ${sql.raw(columns.join(', '))})
      SELECT ${sourceId}, s.source_key, ${runId}, ${sql.raw(listingValues.map(([, v]) => v).join(', '))}
      FROM etl_staging s WHERE s.reason IS NULL
      ON CONFLICT (source_id, source_key) DO UPDATE SET
        ${sql.raw(columns.map((c) => `${c} = excluded.${c}`).join(', '))},
        last_run_id = excluded.last_run_id, updated_at = now()
      WHERE (${sql.raw(changed)}) IS DISTINCT FROM (${sql.raw(incoming)})
      RETURNING l.id, (l.xmax = 0) AS inserted, l.standard_status, l.list_price, l.close_price
    ), history AS (
      INSERT INTO listing_history (listing_id, run_id, event, standard_status, list_price, close_price,
                                   previous_status, previous_list_price, previous_close_price)
      SELECT m.id, ${runId},
             CASE WHEN p.standard_status IS DISTINCT FROM m.standard_status
                   AND (p.list_price, p.close_price) IS DISTINCT FROM (m.list_price, m.close_price) THEN 'price_status'
                  WHEN p.standard_status IS DISTINCT FROM m.standard_status THEN 'status'
                  ELSE 'price' END,
             m.standard_status, m.list_price, m.close_price,
             p.standard_status, p.list_price, p.close_price
      FROM merged m JOIN prior p ON p.id = m.id
      WHERE p.standard_status IS DISTINCT FROM m.standard_status
         OR (p.list_price, p.close_price) IS DISTINCT FROM (m.list_price, m.close_price)
      RETURNING 1
    )
    SELECT count(*) FILTER (WHERE inserted)::int AS inserted,
           count(*) FILTER (WHERE NOT inserted)::int AS updated,
           (SELECT count(*)::int FROM history) AS history
    FROM merged`;
  const [row] = await tx.rows<MergeCounts>(statement);
  return row ?? { inserted: 0, updated: 0, history: 0 };
}
