import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { seedIfEmpty } from '../../../origin/bootstrap.js';
import { type Database, openDatabase } from '../../../origin/db/database.js';
import { migrate } from '../../../origin/db/migrate.js';
import { createLogger } from '../../../origin/logger.js';
import type { PostgresCluster } from './postgres-cluster.js';

export const TEMPLATE_DATABASE = 'reliability_template';

/**
 * The data every part starts from, built once: a fresh install exactly as the origin makes it on
 * first start (migrations, the shipped King County sample through the real ETL, the derived ZIP
 * areas, the analytics views). The databases the parts use are clones of it.
 */
export async function buildTemplate(cluster: PostgresCluster): Promise<void> {
  await adminQuery(cluster, `CREATE DATABASE ${TEMPLATE_DATABASE}`);
  const db = await openDatabase({ url: cluster.urlOf(TEMPLATE_DATABASE), dataDir: '', poolMax: 4 });
  try {
    await migrate(db);
    const loaded = await seedIfEmpty(db, createLogger('silent'));
    if (loaded?.status !== 'succeeded')
      throw new Error(`loading the King County sample failed: ${loaded?.error ?? 'no run'}`);
  } finally {
    await db.close();
  }
}

/** A new database, a copy of the template (milliseconds: CREATE DATABASE … TEMPLATE). */
export async function cloneTemplate(cluster: PostgresCluster, name: string): Promise<string> {
  await adminQuery(cluster, `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  return cluster.urlOf(name);
}

async function adminQuery(cluster: PostgresCluster, statement: string): Promise<void> {
  const admin = postgres(cluster.urlOf('postgres'), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(statement);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export type Checksum = { count: number; md5: string };

/**
 * A fingerprint of every listing's content, the same one test/support/etl.ts takes
 * (listingsChecksum): equal before and after means nothing changed. `exceptSources` leaves out
 * the listings of sources a part loads on purpose, so what was stored before can still be
 * compared.
 */
export async function listingsChecksum(
  db: Database,
  options: { exceptSources?: readonly string[]; onlySources?: readonly string[] } = {},
): Promise<Checksum> {
  const except = options.exceptSources ?? [];
  const only = options.onlySources;
  const [row] = await db.rows<Checksum>(sql`
    SELECT count(*)::int AS count,
           coalesce(md5(string_agg(l::text, '|' ORDER BY id)), '') AS md5
    FROM (SELECT id, source_id, source_key, standard_status, list_price, close_price, geom, extra, updated_at
          FROM listings
          WHERE source_id NOT IN (SELECT id FROM etl_sources WHERE name = ANY(${sql.raw(arrayLiteral(except))}))
            ${only ? sql`AND source_id IN (SELECT id FROM etl_sources WHERE name = ANY(${sql.raw(arrayLiteral(only))}))` : sql``}) l`);
  return row as Checksum;
}

/**
 * A cheap stamp of the listings outside `exceptSources` (count, newest update, sum of ids):
 * any insert, delete or update among them changes it. For checks after every one of many runs;
 * listingsChecksum, which reads every row, confirms at the end.
 */
export async function listingsStamp(
  db: Database,
  exceptSources: readonly string[],
): Promise<string> {
  const [row] = await db.rows<{ stamp: string }>(sql`
    SELECT concat_ws('/', count(*), max(updated_at)::text, sum(id)) AS stamp FROM listings
    WHERE source_id NOT IN (SELECT id FROM etl_sources WHERE name = ANY(${sql.raw(arrayLiteral(exceptSources))}))`);
  return row?.stamp ?? '';
}

/** A text[] literal of plain source names (lowercase, digits, dashes: nothing to escape). */
function arrayLiteral(names: readonly string[]): string {
  for (const name of names)
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new Error(`not a source name: ${name}`);
  return `ARRAY[${names.map((n) => `'${n}'`).join(',')}]::text[]`;
}

export const sameChecksum = (a: Checksum, b: Checksum) => a.count === b.count && a.md5 === b.md5;
