import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackupNotFoundError, IntegrityError } from './errors.js';
import { LISTINGS_CHECKSUM_METHOD } from './facts.js';
import {
  backupBaseName,
  checkIntegrity,
  dumpFileName,
  findBackup,
  listBackups,
  MANIFEST_FORMAT,
  type Manifest,
  manifestFileName,
  manifestPathForDump,
} from './manifest.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'estate-manifest-'));
  dirs.push(dir);
  return dir;
}

/** A backup on disk whose manifest truly describes its dump. */
function writeBackup(dir: string, source: string, iso: string, content = `dump of ${iso}`) {
  const createdAt = new Date(iso);
  const base = backupBaseName(source, createdAt);
  const file = dumpFileName(base, 'none');
  writeFileSync(join(dir, file), content);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    source,
    file,
    created_at: createdAt.toISOString(),
    finished_at: createdAt.toISOString(),
    size_bytes: Buffer.byteLength(content),
    sha256: createHash('sha256').update(content).digest('hex'),
    encryption: 'none',
    dump_format: 'pg_dump custom',
    database: 'estate',
    server_version: '15.20',
    postgis_version: '3.3.2',
    row_counts: { 'public.listings': 1 },
    listings: { rows: 1, checksum: 'a'.repeat(32), with_geom: 1, extent: 'BOX(1 2,1 2)' },
    listings_checksum_method: LISTINGS_CHECKSUM_METHOD,
    tools: { pg_dump: 'pg_dump (PostgreSQL) 15.20' },
  };
  const manifestPath = join(dir, manifestFileName(base));
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return { dumpPath: join(dir, file), manifestPath, manifest };
}

describe('backup names', () => {
  it('sort by time, name the source and the encryption, and lead back to the manifest', () => {
    const base = backupBaseName('app', new Date('2024-05-01T02:00:00.123Z'));
    expect(base).toBe('app-20240501T020000.123Z');
    expect(dumpFileName(base, 'age')).toBe('app-20240501T020000.123Z.dump.age');
    expect(manifestPathForDump('/b/app-20240501T020000.123Z.dump.gpg')).toBe(
      '/b/app-20240501T020000.123Z.manifest.json',
    );
    expect(manifestPathForDump('/b/notes.txt')).toBeNull();
  });
});

describe('listBackups', () => {
  it('lists complete backups newest first, per source, and reports what is not one', async () => {
    const dir = freshDir();
    writeBackup(dir, 'app', '2024-05-01T02:00:00Z');
    writeBackup(dir, 'app', '2024-05-03T02:00:00Z');
    writeBackup(dir, 'metabase', '2024-05-02T02:00:00Z');
    // An interrupted write, a dump whose manifest never came, a manifest whose dump went.
    writeFileSync(join(dir, '.app-20240504T020000.000Z.dump.partial-1-abcd'), 'half');
    writeFileSync(join(dir, 'app-20240505T020000.000Z.dump'), 'orphan');
    const gone = writeBackup(dir, 'app', '2024-05-06T02:00:00Z');
    rmSync(gone.dumpPath);
    writeFileSync(join(dir, 'app-20240507T020000.000Z.manifest.json'), '{ not json');

    const { backups, partials, problems } = await listBackups(dir);
    expect(backups.map((b) => b.manifest.file)).toEqual([
      'app-20240503T020000.000Z.dump',
      'metabase-20240502T020000.000Z.dump',
      'app-20240501T020000.000Z.dump',
    ]);
    expect((await listBackups(dir, 'metabase')).backups).toHaveLength(1);
    expect(partials).toEqual(['.app-20240504T020000.000Z.dump.partial-1-abcd']);
    expect(problems.join('\n')).toContain('app-20240505T020000.000Z.dump has no manifest');
    expect(problems.join('\n')).toContain('which is missing');
    expect(problems.join('\n')).toContain('not JSON');
  });

  it('refuses a huge file posing as a manifest without reading it', async () => {
    const dir = freshDir();
    writeFileSync(
      join(dir, 'app-20240501T020000.000Z.manifest.json'),
      Buffer.alloc(2 * 1024 * 1024, 32),
    );
    const { backups, problems } = await listBackups(dir);
    expect(backups).toEqual([]);
    expect(problems[0]).toContain('over 1 MB');
  });

  it('refuses a manifest that points outside the backup directory', async () => {
    const dir = freshDir();
    const { manifestPath, manifest } = writeBackup(dir, 'app', '2024-05-01T02:00:00Z');
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, file: '../../etc/passwd' }));
    const { backups, problems } = await listBackups(dir);
    expect(backups).toEqual([]);
    expect(problems[0]).toContain('file');
  });
});

describe('findBackup', () => {
  it('finds the latest of a source, or a backup by its dump or its manifest', async () => {
    const dir = freshDir();
    const older = writeBackup(dir, 'app', '2024-05-01T02:00:00Z');
    writeBackup(dir, 'app', '2024-05-02T02:00:00Z');
    expect((await findBackup(dir, 'latest')).manifest.created_at).toBe('2024-05-02T02:00:00.000Z');
    expect((await findBackup(dir, older.dumpPath)).manifestPath).toBe(older.manifestPath);
    expect((await findBackup(dir, older.manifestPath)).dumpPath).toBe(older.dumpPath);
  });

  it('says clearly when there is nothing to restore', async () => {
    const dir = freshDir();
    await expect(findBackup(dir, 'latest')).rejects.toThrow(BackupNotFoundError);
    await expect(findBackup(dir, 'latest', 'metabase')).rejects.toThrow("no complete 'metabase'");
    await expect(findBackup(dir, join(dir, 'x.tar'))).rejects.toThrow('not a backup file');
    await expect(findBackup(dir, join(dir, 'app-1.dump'))).rejects.toThrow('cannot read');
  });
});

describe('checkIntegrity', () => {
  it('passes a dump that is the file its manifest describes', async () => {
    const dir = freshDir();
    const { dumpPath } = writeBackup(dir, 'app', '2024-05-01T02:00:00Z', 'x'.repeat(10_000));
    await expect(checkIntegrity(await findBackup(dir, dumpPath))).resolves.toBeUndefined();
  });

  it('catches one flipped bit', async () => {
    const dir = freshDir();
    const { dumpPath } = writeBackup(dir, 'app', '2024-05-01T02:00:00Z', 'x'.repeat(10_000));
    const bytes = readFileSync(dumpPath);
    bytes[5_000] = (bytes[5_000] as number) ^ 0x01;
    writeFileSync(dumpPath, bytes);
    const check = checkIntegrity(await findBackup(dir, dumpPath));
    await expect(check).rejects.toThrow(IntegrityError);
    await expect(checkIntegrity(await findBackup(dir, dumpPath))).rejects.toThrow(
      /sha256 mismatch\): it is corrupted/,
    );
  });

  it('catches a truncated dump and says so', async () => {
    const dir = freshDir();
    const { dumpPath } = writeBackup(dir, 'app', '2024-05-01T02:00:00Z', 'x'.repeat(10_000));
    truncateSync(dumpPath, 4_096);
    await expect(checkIntegrity(await findBackup(dir, dumpPath))).rejects.toThrow(
      'sha256 mismatch; 4096 bytes where the manifest says 10000 (truncated)',
    );
  });
});
