import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type PitrCluster,
  pgbackrestConfig,
  postgresSettings,
  root,
  startPitrCluster,
} from '../scripts/pitr-cluster.js';

/**
 * Point-in-time recovery (issue 14, finding 11): the db service's WAL archiving with pgBackRest,
 * on a real throwaway PostgreSQL 15 cluster configured by the shipped origin/postgres/
 * postgresql.conf and pgbackrest.conf (scripts/pitr-cluster.ts changes only paths, port and
 * memory). Write rows, wait for the archive, destroy the cluster, restore, the rows are there.
 */

const read = (path: string) => readFileSync(join(root, path), 'utf8');
const pgbackrestInstalled = spawnSync('pgbackrest', ['version']).status === 0;

describe('origin/postgres: the shipped archiving configuration', () => {
  const settings = postgresSettings(read('origin/postgres/postgresql.conf'));

  it('archives every WAL segment through pgBackRest, at least once a minute', () => {
    expect(settings.get('wal_level')).toBe('replica');
    expect(settings.get('archive_mode')).toBe('on');
    expect(settings.get('archive_command')).toBe('pgbackrest --stanza=estate archive-push %p');
    const timeout = Number(settings.get('archive_timeout'));
    expect(timeout).toBeGreaterThan(0);
    expect(timeout).toBeLessThanOrEqual(60);
  });

  it('prunes the local repository by retention, backups and WAL alike', () => {
    const conf = read('origin/postgres/pgbackrest.conf');
    expect(conf).toMatch(/^repo1-retention-full=[1-9]\d*$/m);
    // No repo1-retention-archive: the archive then follows the full backups kept.
    expect(conf).not.toMatch(/^repo1-retention-archive/m);
    expect(conf).toMatch(/^\[estate\]$/m);
  });

  it('refuses to rewrite a pgbackrest.conf option the file does not have', () => {
    expect(() => pgbackrestConfig('[global]\nrepo1-path=/x\n', { 'pg1-path': '/y' }, {})).toThrow(
      'pgbackrest.conf has no pg1-path',
    );
  });
});

describe.skipIf(!pgbackrestInstalled)(
  'point-in-time recovery on a real PostgreSQL 15 with pgBackRest',
  () => {
    let cluster: PitrCluster;
    /** A moment after row 1 committed and before row 2 did. */
    let between: string;

    /** Wait until the WAL segment holding `lsn` is in the repository (not merely in pg_wal). */
    function waitForArchived(lsn: string, timeoutMs: number): number {
      const started = Date.now();
      const segment = cluster.sql(`SELECT pg_walfile_name('${lsn}')`);
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (;;) {
        const info = JSON.parse(cluster.pgbackrest(['info', '--output=json'])) as {
          archive?: { max?: string | null }[];
        }[];
        const archived = info[0]?.archive?.map((a) => a.max ?? '') ?? [];
        // Same timeline: segment names order as the WAL does.
        if (archived.some((max) => max.slice(0, 8) === segment.slice(0, 8) && max >= segment)) {
          return Date.now() - started;
        }
        if (Date.now() - started > timeoutMs) {
          throw new Error(`${segment} not archived after ${timeoutMs} ms (have ${archived})`);
        }
        Atomics.wait(pause, 0, 0, 100);
      }
    }

    const rows = () => cluster.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM pitr_rows");

    beforeAll(async () => {
      cluster = await startPitrCluster();
      cluster.pgbackrest(['stanza-create']);
      // What `pgbackrest check` proves: archive_command reaches the repository.
      cluster.pgbackrest(['check']);
      cluster.pgbackrest(['backup', '--type=full']);
      // A time target picks the newest backup that stopped before it, stop times in whole
      // seconds: the rows must come at least a second after the backup.
      cluster.sql('SELECT pg_sleep(1.1)');
      cluster.sql(
        'CREATE TABLE pitr_rows (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())',
      );
      cluster.sql('INSERT INTO pitr_rows (id) VALUES (1)');
      between = cluster.sql('SELECT clock_timestamp()');
      cluster.sql('SELECT pg_sleep(0.05)');
      cluster.sql('INSERT INTO pitr_rows (id) VALUES (2)');
      const lsn = cluster.sql('SELECT pg_current_wal_lsn()');
      // Not waiting the shipped archive_timeout (60 s) here; the last test shows it working.
      cluster.sql('SELECT pg_switch_wal()');
      waitForArchived(lsn, 20_000);
    });

    afterAll(() => cluster?.cleanup());

    it('runs the weekly drill: restores into a scratch directory, checks, archives nothing', async () => {
      const before = cluster.pgbackrest(['info', '--output=json']);
      const { createServer } = await import('node:net');
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const a = s.address();
          s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
        });
      });
      const out = cluster.run(join(root, 'origin/postgres/pitr-drill.sh'), [], {
        PITR_DRILL_DIR: cluster.dir,
        PITR_DRILL_PORT: String(port),
        PITR_DRILL_DATABASE: 'postgres',
        PITR_DRILL_CHECK_SQL: 'SELECT count(*) FROM pitr_rows',
      });
      const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
      expect(result).toMatchObject({ ok: true, target: 'latest', check: '2' });
      expect(result.totalMs).toBeGreaterThan(0);
      // The scratch copy promoted to a new timeline but pushed none of it into the repository.
      const archive = (text: string) => JSON.parse(text)[0].archive;
      expect(archive(cluster.pgbackrest(['info', '--output=json']))).toEqual(archive(before));
      // And the live server never noticed.
      expect(rows()).toBe('1,2');
    });

    it('restores the latest state after the cluster is destroyed: every archived write is back', () => {
      cluster.destroyData();
      cluster.pgbackrest(['restore']);
      cluster.start();
      cluster.waitUntilPrimary();
      expect(rows()).toBe('1,2');
    });

    it('restores to a point in time: the write before it is back, the one after is not', () => {
      cluster.destroyData();
      cluster.pgbackrest([
        'restore',
        '--type=time',
        `--target=${between}`,
        '--target-action=promote',
      ]);
      cluster.start();
      cluster.waitUntilPrimary();
      expect(rows()).toBe('1');
      // The restored server archives again, on its new timeline.
      cluster.pgbackrest(['check']);
    });

    it('archives a quiet server’s last write within archive_timeout, with no manual switch', () => {
      // The shipped 60 s made short for the test: the mechanism is the same.
      cluster.sql('ALTER SYSTEM SET archive_timeout = 2');
      cluster.sql('SELECT pg_reload_conf()');
      cluster.sql('SELECT pg_switch_wal()');
      cluster.sql('INSERT INTO pitr_rows (id) VALUES (3)');
      const lsn = cluster.sql('SELECT pg_current_wal_lsn()');
      const lag = waitForArchived(lsn, 15_000);
      expect(lag).toBeLessThan(15_000);
    });
  },
);
