import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LISTINGS_CHECKSUM_METHOD } from './facts.js';
import {
  backupBaseName,
  dumpFileName,
  MANIFEST_FORMAT,
  type Manifest,
  manifestFileName,
} from './manifest.js';
import {
  BUCKET_PENDING_FILE,
  isoWeek,
  planRetention,
  pruneBackups,
  type RetentionPolicy,
} from './retention.js';
import type { BackupUploader } from './upload.js';

const at = (iso: string) => ({ createdAt: new Date(iso), name: iso });
const names = (list: { name: string }[]) => list.map((b) => b.name);

/** One backup a day at 02:00 UTC from `first` for `days` days. */
function nightly(first: string, days: number) {
  const start = Date.parse(`${first}T02:00:00Z`);
  return Array.from({ length: days }, (_, i) => at(new Date(start + i * 86_400_000).toISOString()));
}

describe('isoWeek', () => {
  it.each([
    ['2024-01-01', '2024-W01'], // a Monday
    ['2023-01-01', '2022-W52'], // a Sunday: the last week of the year before
    ['2020-12-31', '2020-W53'], // a Thursday in a 53-week year
    ['2021-01-03', '2020-W53'],
    ['2021-01-04', '2021-W01'],
    ['2024-12-30', '2025-W01'], // a Monday whose Thursday is in the next year
    ['2024-06-09', '2024-W23'], // Sunday ends the ISO week
    ['2024-06-10', '2024-W24'],
  ])('puts %s in %s', (date, week) => {
    expect(isoWeek(new Date(`${date}T12:00:00Z`))).toBe(week);
  });
});

describe('planRetention', () => {
  const policy: RetentionPolicy = { daily: 7, weekly: 4, monthly: 6 };

  it('keeps nothing away from an empty list', () => {
    expect(planRetention([], policy)).toEqual({ keep: [], remove: [] });
  });

  it('keeps the last 7 days, the newest of 4 weeks and of 6 months out of a year of nightlies', () => {
    // 2024-01-01 .. 2024-12-31, newest Tuesday 2024-12-31.
    const year = nightly('2024-01-01', 366);
    const { keep, remove } = planRetention(year, policy);
    expect(names(keep)).toEqual([
      // daily: the last 7 days
      '2024-12-31T02:00:00.000Z',
      '2024-12-30T02:00:00.000Z',
      '2024-12-29T02:00:00.000Z', // also the newest of week 2024-W52 (Sunday)
      '2024-12-28T02:00:00.000Z',
      '2024-12-27T02:00:00.000Z',
      '2024-12-26T02:00:00.000Z',
      '2024-12-25T02:00:00.000Z',
      // weekly: W01 of 2025 (Dec 30-31) and W52 are covered above; then W51, W50
      '2024-12-22T02:00:00.000Z',
      '2024-12-15T02:00:00.000Z',
      // monthly: December is covered by the 31st; then the last day of each earlier month
      '2024-11-30T02:00:00.000Z',
      '2024-10-31T02:00:00.000Z',
      '2024-09-30T02:00:00.000Z',
      '2024-08-31T02:00:00.000Z',
      '2024-07-31T02:00:00.000Z',
    ]);
    expect(keep.length + remove.length).toBe(366);
  });

  it('keeps only the newest backup of a day that has several', () => {
    const { keep } = planRetention(
      [at('2024-05-01T02:00:00Z'), at('2024-05-01T14:00:00Z'), at('2024-04-30T02:00:00Z')],
      { daily: 2, weekly: 0, monthly: 0 },
    );
    expect(names(keep)).toEqual(['2024-05-01T14:00:00Z', '2024-04-30T02:00:00Z']);
  });

  it('does not let days without a backup use up daily slots', () => {
    // Three nights failed: the 7 daily slots reach further back instead.
    const backups = nightly('2024-05-01', 20).filter(
      (b) => !['2024-05-17', '2024-05-18', '2024-05-19'].includes(b.name.slice(0, 10)),
    );
    const { keep } = planRetention(backups, { daily: 7, weekly: 0, monthly: 0 });
    expect(names(keep).map((n) => n.slice(0, 10))).toEqual([
      '2024-05-20',
      '2024-05-16',
      '2024-05-15',
      '2024-05-14',
      '2024-05-13',
      '2024-05-12',
      '2024-05-11',
    ]);
  });

  it('always keeps the newest backup, even with every count at zero', () => {
    const { keep, remove } = planRetention(nightly('2024-05-01', 5), {
      daily: 0,
      weekly: 0,
      monthly: 0,
    });
    expect(names(keep)).toEqual(['2024-05-05T02:00:00.000Z']);
    expect(remove).toHaveLength(4);
  });

  it('gives the same answer whatever order the backups come in', () => {
    const backups = nightly('2024-01-15', 120);
    const shuffled = [...backups].sort((a, b) => (a.name < b.name ? 1 : -1)).reverse();
    shuffled.push(shuffled.shift() as (typeof shuffled)[number]);
    expect(names(planRetention(shuffled, policy).keep)).toEqual(
      names(planRetention(backups, policy).keep),
    );
  });

  it('judges days in UTC, so one nightly just after midnight UTC is its own day', () => {
    const { keep } = planRetention(
      [at('2024-05-02T00:30:00Z'), at('2024-05-01T23:30:00Z'), at('2024-05-01T01:00:00Z')],
      { daily: 2, weekly: 0, monthly: 0 },
    );
    expect(names(keep)).toEqual(['2024-05-02T00:30:00Z', '2024-05-01T23:30:00Z']);
  });

  it('keeps between one and daily+weekly+monthly backups for any history', () => {
    // A seeded spread of irregular histories: the invariants hold for all of them.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 200; round++) {
      const count = Math.floor(random() * 200);
      const backups = Array.from({ length: count }, () =>
        at(new Date(Date.UTC(2023, 0, 1) + random() * 500 * 86_400_000).toISOString()),
      );
      const p = {
        daily: Math.floor(random() * 10),
        weekly: Math.floor(random() * 6),
        monthly: Math.floor(random() * 8),
      };
      const { keep, remove } = planRetention(backups, p);
      expect(keep.length + remove.length).toBe(count);
      if (count === 0) continue;
      expect(keep.length).toBeGreaterThanOrEqual(1);
      expect(keep.length).toBeLessThanOrEqual(Math.max(1, p.daily + p.weekly + p.monthly));
      const newest = Math.max(...backups.map((b) => b.createdAt.getTime()));
      expect(keep[0]?.createdAt.getTime()).toBe(newest);
      // No two kept backups share a day unless... they never do: each slot keeps a day's newest.
      const keptDays = keep.map((b) => b.createdAt.toISOString().slice(0, 10));
      expect(new Set(keptDays).size).toBe(keptDays.length);
    }
  });
});

describe('pruneBackups', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  function manifest(source: string, createdAt: Date, file: string): Manifest {
    return {
      format: MANIFEST_FORMAT,
      source,
      file,
      created_at: createdAt.toISOString(),
      finished_at: createdAt.toISOString(),
      size_bytes: 4,
      sha256: '0'.repeat(64),
      encryption: 'none',
      dump_format: 'pg_dump custom',
      database: 'estate',
      server_version: '15',
      postgis_version: null,
      row_counts: {},
      listings: null,
      listings_checksum_method: LISTINGS_CHECKSUM_METHOD,
      tools: {},
    };
  }

  function backupAt(dir: string, source: string, iso: string): string {
    const createdAt = new Date(iso);
    const base = backupBaseName(source, createdAt);
    const file = dumpFileName(base, 'none');
    writeFileSync(join(dir, file), 'dump');
    writeFileSync(
      join(dir, manifestFileName(base)),
      JSON.stringify(manifest(source, createdAt, file)),
    );
    return base;
  }

  it('deletes dump and manifest together, per source, and keeps what the policy keeps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'estate-prune-'));
    dirs.push(dir);
    const app = nightly('2024-03-01', 45).map((b) => backupAt(dir, 'app', b.name));
    // Metabase is backed up on the same nights but judged on its own.
    const metabase = nightly('2024-04-10', 5).map((b) => backupAt(dir, 'metabase', b.name));
    writeFileSync(join(dir, 'status.json'), '{}');

    const result = await pruneBackups(dir, { daily: 3, weekly: 2, monthly: 2 });

    const left = readdirSync(dir).sort();
    const keptApp = [
      'app-20240414T020000.000Z', // newest; daily
      'app-20240413T020000.000Z',
      'app-20240412T020000.000Z',
      'app-20240407T020000.000Z', // weekly: W14 ends Sunday 7 April (W15 is covered by the 14th)
      'app-20240331T020000.000Z', // monthly: March
    ];
    const keptMetabase = metabase.slice(-3); // 12, 13, 14 April: daily
    expect(left).toEqual(
      [...keptApp, ...keptMetabase]
        .flatMap((base) => [`${base}.dump`, `${base}.manifest.json`])
        .concat('status.json')
        .sort(),
    );
    expect(result.removed).toHaveLength(app.length - keptApp.length + 2);
    expect(result.kept).toHaveLength(keptApp.length + keptMetabase.length);
  });

  it('removes the temporary files of interrupted writes only once they are a day old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'estate-prune-'));
    dirs.push(dir);
    backupAt(dir, 'app', '2024-05-01T02:00:00Z');
    const old = '.app-20240430T020000.000Z.dump.partial-123-abcd';
    const fresh = '.app-20240501T020000.000Z.dump.partial-456-ef01';
    writeFileSync(join(dir, old), 'half');
    writeFileSync(join(dir, fresh), 'half');
    const now = new Date();
    const twoDaysAgo = new Date(now.getTime() - 2 * 86_400_000);
    utimesSync(join(dir, old), twoDaysAgo, twoDaysAgo);

    const result = await pruneBackups(dir, { daily: 7, weekly: 4, monthly: 6 }, now);
    expect(result.partialsRemoved).toEqual([old]);
    expect(readdirSync(dir)).toContain(fresh);
    expect(result.kept).toHaveLength(1);
  });

  it('ignores a pending-deletes file that is not its own, and deletes only the removed backups', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'estate-prune-'));
    dirs.push(dir);
    const older = backupAt(dir, 'app', '2024-05-01T02:00:00Z');
    backupAt(dir, 'app', '2024-05-02T02:00:00Z');
    // Hand-edited: a path and a pattern where only plain file names belong.
    writeFileSync(join(dir, BUCKET_PENDING_FILE), JSON.stringify([['../etc/passwd', '*']]));
    const removed: string[] = [];
    const bucket: BackupUploader = {
      upload: async () => [],
      remove: async (name) => {
        removed.push(name);
        return `prefix/${name}`;
      },
    };

    const result = await pruneBackups(dir, { daily: 1, weekly: 0, monthly: 0 }, new Date(), {
      bucket,
    });

    expect(removed).toEqual([`${older}.manifest.json`, `${older}.dump`]);
    expect(result.bucket).toEqual({
      deleted: [`prefix/${older}.manifest.json`, `prefix/${older}.dump`],
      failed: [],
      pending: [],
    });
    expect(readdirSync(dir)).not.toContain(BUCKET_PENDING_FILE);
  });

  it('leaves a directory that does not exist alone', async () => {
    const result = await pruneBackups(join(tmpdir(), 'estate-prune-none', 'x'), {
      daily: 1,
      weekly: 0,
      monthly: 0,
    });
    expect(result).toEqual({ kept: [], removed: [], partialsRemoved: [] });
  });
});
