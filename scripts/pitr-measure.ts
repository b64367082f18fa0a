import { join } from 'node:path';
import { root, startPitrCluster } from './pitr-cluster.js';

/**
 * RPO and RTO of point-in-time recovery, measured (docs/backups.md, "Point-in-time recovery"):
 * a throwaway cluster with the shipped configuration, LISTINGS rows shaped like listings (text,
 * numbers, a PostGIS point and its GiST index), a full backup, then
 *  - RPO: on a quiet server, a write's wait until its WAL is in the repository (the shipped
 *    archive_timeout, 60 s, is the bound);
 *  - RTO: origin/postgres/pitr-drill.sh restoring the latest state and recovering it.
 *
 *   npx tsx scripts/pitr-measure.ts            # LISTINGS=1000000 by default
 */
const listings = Number(process.env.LISTINGS ?? 1_000_000);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const cluster = await startPitrCluster({ prefix: 'estate-pitr-measure-' });
try {
  cluster.pgbackrest(['stanza-create']);
  cluster.sql('CREATE EXTENSION postgis');
  let t = Date.now();
  cluster.sql(`CREATE TABLE listings AS
    SELECT i AS id, 'feed-' || (i % 20) AS source, md5(i::text) AS external_id,
      'Listing ' || i || ' ' || repeat(md5((i * 7)::text), 6) AS title,
      (50000 + (i::bigint * 7919) % 2000000)::int AS price, (i % 6)::int AS bedrooms,
      ST_SetSRID(ST_MakePoint(-10 + (i % 2000) * 0.01, 40 + (i / 2000) * 0.0005), 4326) AS geom,
      now() AS updated_at
    FROM generate_series(1, ${listings}) AS i`);
  cluster.sql('CREATE INDEX ON listings USING gist (geom)');
  cluster.sql('ALTER TABLE listings ADD PRIMARY KEY (id)');
  const size = cluster.sql("SELECT pg_size_pretty(pg_database_size('postgres'))");
  console.log(`${listings} listings loaded in ${seconds(Date.now() - t)}; database ${size}`);

  t = Date.now();
  cluster.pgbackrest(['backup', '--type=full']);
  const info = JSON.parse(cluster.pgbackrest(['info', '--output=json']))[0].backup.at(-1);
  console.log(
    `full backup: ${seconds(Date.now() - t)}, repository ${(info.info.repository.delta / 2 ** 20).toFixed(0)} MiB of ${(info.info.size / 2 ** 20).toFixed(0)} MiB`,
  );

  // RPO: the server quiet after a segment switch, one write, then wait for its segment.
  cluster.sql('SELECT pg_switch_wal()');
  cluster.sql('SELECT pg_sleep(2)');
  cluster.sql("UPDATE listings SET title = 'rpo probe' WHERE id = 1");
  const segment = cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
  t = Date.now();
  for (;;) {
    const archived = cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
    if (archived >= segment) break;
    if (Date.now() - t > 120_000) throw new Error('not archived within 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`RPO: the write was in the repository ${seconds(Date.now() - t)} after its commit`);

  t = Date.now();
  const drill = cluster.run(join(root, 'origin/postgres/pitr-drill.sh'), [], {
    PITR_DRILL_DIR: cluster.dir,
    PITR_DRILL_PORT: String(cluster.port + 1),
    PITR_DRILL_DATABASE: 'postgres',
    PITR_DRILL_CHECK_SQL: 'SELECT count(*) FROM listings',
  });
  console.log(`RTO (pitr-drill.sh, latest): ${seconds(Date.now() - t)}: ${drill.trim()}`);
} finally {
  cluster.cleanup();
}
