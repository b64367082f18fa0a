/**
 * The peer a GIS user would load the feed with: GDAL's ogr2ogr (gdal-bin from Debian, installed
 * by scripts/setup-test-env.sh), on the same CSV, into the same database, in the same run.
 * PG_USE_COPY on, no spatial index during the load, then the same secondary indexes `listings`
 * has (and a unique key on the listing key, as `listings` has on source and key), so both sides
 * end with a table a map and a search can use. ogr2ogr does no validation, merging or history:
 * it is the floor a generic loader reaches, not a like-for-like ETL.
 */
import { spawn, spawnSync } from 'node:child_process';
import type postgres from 'postgres';

export const OGR_TABLE = 'ogr_listings';

/** `GDAL 3.6.2, released 2023/01/02`, or undefined when ogr2ogr is not installed. */
export function ogr2ogrVersion(): string | undefined {
  const run = spawnSync('ogr2ogr', ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/**
 * Load `csvPath` with ogr2ogr into OGR_TABLE (replacing it), then build the indexes. Returns the
 * wall time in ms. The password, if any, goes in PGPASSWORD, never on the command line.
 */
export async function timeOgr2ogr(
  url: string,
  csvPath: string,
  sql: postgres.Sql,
  expectedRows: number,
): Promise<number> {
  const u = new URL(url);
  const conn = [
    `host=${u.hostname}`,
    `port=${u.port || '5432'}`,
    `dbname=${decodeURIComponent(u.pathname.slice(1))}`,
    `user=${decodeURIComponent(u.username)}`,
  ].join(' ');
  await sql.unsafe(`DROP TABLE IF EXISTS ${OGR_TABLE}`);
  await sql`CHECKPOINT`;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      'ogr2ogr',
      [
        ...['--config', 'PG_USE_COPY', 'YES'],
        ...['-f', 'PostgreSQL', `PG:${conn}`, csvPath],
        ...['-nln', OGR_TABLE, '-overwrite', '-a_srs', 'EPSG:4326', '-gt', '65536'],
        ...['-oo', 'X_POSSIBLE_NAMES=Longitude', '-oo', 'Y_POSSIBLE_NAMES=Latitude'],
        ...['-oo', 'KEEP_GEOM_COLUMNS=NO', '-oo', 'AUTODETECT_TYPE=YES'],
        ...['-lco', 'GEOMETRY_NAME=geom', '-lco', 'SPATIAL_INDEX=NONE', '-lco', 'FID=id'],
      ],
      {
        env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ogr2ogr exited ${code}: ${stderr.slice(-500)}`)),
    );
  });
  // GDAL launders the CSV's column names to lower case (StandardStatus -> standardstatus).
  await sql`SET maintenance_work_mem = '256MB'`;
  for (const definition of [
    `CREATE UNIQUE INDEX ON ${OGR_TABLE} (listingkey)`,
    `CREATE INDEX ON ${OGR_TABLE} USING gist (geom)`,
    `CREATE INDEX ON ${OGR_TABLE} (standardstatus, propertytype)`,
    `CREATE INDEX ON ${OGR_TABLE} (listprice)`,
    `CREATE INDEX ON ${OGR_TABLE} (closeprice)`,
    `CREATE INDEX ON ${OGR_TABLE} (listingcontractdate)`,
    `CREATE INDEX ON ${OGR_TABLE} (closedate)`,
  ])
    await sql.unsafe(definition);
  await sql`RESET maintenance_work_mem`;
  const ms = performance.now() - started;
  // A loader that dropped rows would look fast: every row must be in, with its point.
  const [loaded] = await sql.unsafe<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ${OGR_TABLE} WHERE geom IS NOT NULL`,
  );
  if (loaded?.n !== expectedRows)
    throw new Error(`ogr2ogr loaded ${loaded?.n} rows with a point, not ${expectedRows}`);
  await sql.unsafe(`DROP TABLE ${OGR_TABLE}`);
  return ms;
}
