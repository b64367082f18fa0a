import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../origin/app.js';
import { type BackupConfig, parseBackupEnv } from '../origin/backup/config.js';
import { TargetNotEmptyError } from '../origin/backup/errors.js';
import { runBackupJob, verifyJob } from '../origin/backup/jobs.js';
import { withJobLock } from '../origin/backup/lock.js';
import { findBackup, listBackups } from '../origin/backup/manifest.js';
import { restoreBackup } from '../origin/backup/restore.js';
import { pruneBackups } from '../origin/backup/retention.js';
import { scratchPrefix } from '../origin/backup/verify.js';
import { type Database, openDatabase } from '../origin/db/database.js';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { runSource } from '../origin/etl/run.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createLogger } from '../origin/logger.js';
import type { BackupStatusFile } from '../origin/ops/backup.js';
import type { Readiness } from '../origin/routes/health/assess.js';
import { syntheticSource, writeSyntheticCsv } from '../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { fixture, listingsChecksum } from './support/etl.js';
import { adminUrl, databaseUrl } from './support/urls.js';

/**
 * Backups that restore: real pg_dump, pg_restore, age and gpg against the real PostGIS server,
 * the real CLIs in child processes. Only R2 is a stand-in (a local server recording what the S3
 * client sent).
 */
const logger = createLogger('silent');
const LISTINGS = 2_000;
let t: TestDatabase;
let before: { count: number; md5: string };
const dirs: string[] = [];
const databases: string[] = [];
/** The pool opened after the app database was replaced; `t.drop` closes only the first one. */
let reopened: Database | undefined;

beforeAll(async () => {
  t = await createTestDatabase();
  const feed = fixture('', 'csv');
  await writeSyntheticCsv(feed, LISTINGS);
  await upsertSource(t.db, syntheticSource(feed));
  expect((await runSource(t.db, 'synthetic')).rowsInserted).toBe(LISTINGS);
  before = await listingsChecksum(t.db);
});

afterAll(async () => {
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    for (const name of databases)
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await reopened?.close();
  await t?.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A database name this run's cleanup recognises, dropped after the file in any case. */
function newDatabaseName(): string {
  const name = `${inject('databasePrefix')}r${randomBytes(4).toString('hex')}`;
  databases.push(name);
  return name;
}

type Setup = { dir: string; statusFile: string; env: Record<string, string>; config: BackupConfig };

/** A backup directory and status file of the test's own, and the environment naming them. */
function setup(extra: Record<string, string> = {}, url = t.url): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'estate-backup-'));
  dirs.push(dir);
  const statusFile = join(dir, 'status', 'backup-status.json');
  const env = {
    DATABASE_URL: url,
    BACKUP_ADMIN_URL: adminUrl(),
    BACKUP_DIR: join(dir, 'backups'),
    BACKUP_STATUS_FILE: statusFile,
    ...extra,
  };
  return { dir: env.BACKUP_DIR, statusFile, env, config: parseBackupEnv(env) };
}

const status = (s: Setup) => JSON.parse(readFileSync(s.statusFile, 'utf8')) as BackupStatusFile;

async function checksumOf(name: string) {
  const db = await openDatabase({ url: databaseUrl(name), dataDir: '', poolMax: 1 });
  try {
    return await listingsChecksum(db);
  } finally {
    await db.close();
  }
}

async function databaseExists(name: string): Promise<boolean> {
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    return (await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`).length > 0;
  } finally {
    await admin.end();
  }
}

async function scratchLeft(): Promise<string[]> {
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    const rows = await admin<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE starts_with(datname, ${scratchPrefix(t.name)})`;
    return rows.map((r) => r.datname);
  } finally {
    await admin.end();
  }
}

/** The origin's readiness probe, reading this test's status file. */
async function readiness(s: Setup): Promise<Readiness> {
  const app = createApp({
    db: t.db,
    logger,
    ops: { dataDir: s.dir, backupStatusFile: s.statusFile },
  });
  return (await (await app.request('/health/ready')).json()) as Readiness;
}

type CliResult = { code: number | null; out: string; err: string };

/** Run one of the scripts the way an operator does, without blocking this process. */
function cli(script: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, script), ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

function flipByte(path: string): void {
  const bytes = readFileSync(path);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] as number) ^ 0xff;
  writeFileSync(path, bytes);
}

describe('a backup and its restore', () => {
  it('restores the same listings after they were wiped, into a new database and over the old one', async () => {
    const s = setup();
    const outcome = await runBackupJob({ config: s.config, logger });
    expect(outcome.ok).toBe(true);
    const backup = await findBackup(s.dir, 'latest');
    expect(backup.manifest).toMatchObject({
      source: 'app',
      database: t.name,
      encryption: 'none',
      postgis_version: expect.stringMatching(/^3\./),
      listings: { rows: LISTINGS, with_geom: LISTINGS },
    });
    expect(backup.manifest.row_counts).toMatchObject({
      'public.listings': LISTINGS,
      'public.etl_sources': 1,
      'public.etl_runs': 1,
      'public.users': 0,
    });
    expect(statSync(backup.dumpPath).size).toBe(backup.manifest.size_bytes);
    expect(readFileSync(backup.dumpPath).subarray(0, 5).toString()).toBe('PGDMP');

    // The accident.
    await t.db.rows(sql`DELETE FROM listings`);
    expect((await listingsChecksum(t.db)).count).toBe(0);

    const target = newDatabaseName();
    await restoreBackup({ backup, adminUrl: adminUrl(), keys: s.config.keys, target });
    expect(await checksumOf(target)).toEqual(before);

    // The database the origin uses holds tables: replaced only when asked to.
    await expect(
      restoreBackup({ backup, adminUrl: adminUrl(), keys: s.config.keys, target: t.name }),
    ).rejects.toThrow(TargetNotEmptyError);
    await restoreBackup({
      backup,
      adminUrl: adminUrl(),
      keys: s.config.keys,
      target: t.name,
      force: true,
    });
    // The pool's connections were closed by the replacement: reopen to read the restored rows.
    await t.db.close();
    t.db = await openDatabase({ url: t.url, dataDir: '', poolMax: 5 });
    reopened = t.db;
    expect(await listingsChecksum(t.db)).toEqual(before);
  });

  it('records the run in the status file the origin reads', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    const written = status(s);
    const backup = await findBackup(s.dir, 'latest');
    expect(written).toMatchObject({ ok: true, file: backup.manifest.file, error: null });
    expect(written.size_bytes).toBe(backup.manifest.size_bytes);
    const ready = await readiness(s);
    expect(ready.checks.backup).toMatchObject({ status: 'ok', file: backup.manifest.file });
  });

  it('does not start while another backup job holds the lock, and leaves the status alone', async () => {
    const s = setup();
    const outcome = await withJobLock(t.url, () => runBackupJob({ config: s.config, logger }));
    expect(outcome).toMatchObject({ ok: false, busy: true });
    expect(existsSync(s.statusFile)).toBe(false);
    expect((await listBackups(s.dir)).backups).toEqual([]);
  });
});

describe('the restore drill (verify)', () => {
  it('passes a good backup, records it, drops its scratch database, and readiness shows it', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    const outcome = await verifyJob({ config: s.config, logger }, { which: 'latest' });
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.value[0]?.facts.listings).toMatchObject({ rows: LISTINGS });
    expect(outcome.value[0]?.postgis).toContain('POSTGIS=');
    expect(status(s)).toMatchObject({ ok: true, verify_ok: true, verify_error: null });
    expect(await scratchLeft()).toEqual([]);
    const ready = await readiness(s);
    expect(ready.checks.backup.verify).toMatchObject({ status: 'ok' });
    expect(ready.problems.join(' ')).not.toContain('restore drill');
  });

  it('leaves the last result standing when a drill is interrupted, and its scratch database gone', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    expect((await verifyJob({ config: s.config, logger }, { which: 'latest' })).ok).toBe(true);
    const passed = status(s);
    const controller = new AbortController();
    controller.abort('SIGTERM');
    const outcome = await verifyJob(
      { config: s.config, logger, signal: controller.signal },
      { which: 'latest' },
    );
    expect(outcome).toMatchObject({
      ok: false,
      code: 'INTERRUPTED',
      error: 'interrupted (SIGTERM)',
    });
    expect(status(s)).toEqual(passed);
    expect(await scratchLeft()).toEqual([]);
  });

  it('catches a flipped byte (sha256) before restoring, and readiness says the drill failed', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    const backup = await findBackup(s.dir, 'latest');
    flipByte(backup.dumpPath);

    const verify = await cli('scripts/verify-backup.ts', [], s.env);
    expect(verify.code).toBe(1);
    expect(verify.out).toContain('sha256 mismatch');
    expect(status(s)).toMatchObject({ ok: true, verify_ok: false });
    expect(status(s).verify_error).toContain('sha256 mismatch');
    expect(await scratchLeft()).toEqual([]);

    const ready = await readiness(s);
    expect(ready.status).toBe('degraded');
    expect(ready.checks.backup.status).toBe('failed');
    expect(ready.problems.join('\n')).toMatch(/the last restore drill failed .*sha256 mismatch/);

    const target = newDatabaseName();
    const restore = await cli('scripts/restore.ts', ['--target', target], s.env);
    expect(restore.code).toBe(1);
    expect(restore.err).toContain('sha256 mismatch');
    expect(await databaseExists(target)).toBe(false);
  });

  it('catches a truncated dump, in verify and in restore', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    const backup = await findBackup(s.dir, 'latest');
    truncateSync(backup.dumpPath, Math.floor(backup.manifest.size_bytes / 2));

    const outcome = await verifyJob({ config: s.config, logger }, { which: backup.dumpPath });
    expect(outcome).toMatchObject({ ok: false, code: 'INTEGRITY' });
    expect(!outcome.ok && outcome.error).toMatch(/sha256 mismatch; \d+ bytes .* \(truncated\)/);
    const target = newDatabaseName();
    await expect(
      restoreBackup({ backup, adminUrl: adminUrl(), keys: s.config.keys, target }),
    ).rejects.toThrow('truncated');
    expect(await databaseExists(target)).toBe(false);
  });

  it('fails when the restored copy differs from the manifest, naming the difference', async () => {
    const s = setup();
    await runBackupJob({ config: s.config, logger });
    const backup = await findBackup(s.dir, 'latest');
    // A manifest that claims other data than the dump holds: what a dump missing rows looks like.
    const manifest = JSON.parse(readFileSync(backup.manifestPath, 'utf8'));
    manifest.row_counts['public.listings'] = LISTINGS + 1;
    manifest.listings.checksum = '0'.repeat(32);
    writeFileSync(backup.manifestPath, JSON.stringify(manifest));
    const outcome = await verifyJob({ config: s.config, logger }, { which: 'latest' });
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toContain(
      `public.listings: ${LISTINGS} rows restored, ${LISTINGS + 1} backed up`,
    );
    expect(!outcome.ok && outcome.error).toContain('listings checksum');
    expect(await scratchLeft()).toEqual([]);
  });
});

describe('encrypted backups', () => {
  let keyDir: string;
  let identity: string;
  let recipient: string;
  let otherIdentity: string;
  beforeAll(() => {
    keyDir = mkdtempSync(join(tmpdir(), 'estate-keys-'));
    dirs.push(keyDir);
    identity = join(keyDir, 'identity.txt');
    otherIdentity = join(keyDir, 'other.txt');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    execFileSync('age-keygen', ['-o', otherIdentity], { stdio: 'ignore' });
    recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  });

  it('round-trips with age, and another identity fails clearly', async () => {
    const s = setup({
      BACKUP_ENCRYPTION: 'age',
      BACKUP_AGE_RECIPIENTS: recipient,
      BACKUP_AGE_IDENTITY_FILE: identity,
    });
    expect((await runBackupJob({ config: s.config, logger })).ok).toBe(true);
    const backup = await findBackup(s.dir, 'latest');
    expect(backup.dumpPath).toMatch(/\.dump\.age$/);
    expect(backup.manifest.encryption).toBe('age');
    expect(readFileSync(backup.dumpPath).includes(Buffer.from('PGDMP'))).toBe(false);
    expect(backup.manifest.tools.age).toMatch(/\d+\.\d+/);

    expect((await verifyJob({ config: s.config, logger }, { which: 'latest' })).ok).toBe(true);
    const target = newDatabaseName();
    await restoreBackup({ backup, adminUrl: adminUrl(), keys: s.config.keys, target });
    expect(await checksumOf(target)).toEqual(before);

    const wrong = parseBackupEnv({ ...s.env, BACKUP_AGE_IDENTITY_FILE: otherIdentity });
    const outcome = await verifyJob({ config: wrong, logger }, { which: 'latest' });
    expect(!outcome.ok && outcome.error).toBe(
      'age could not decrypt the backup: age exited with code 1: age: error: no identity matched any of the recipients',
    );
    const other = newDatabaseName();
    await expect(
      restoreBackup({ backup, adminUrl: adminUrl(), keys: wrong.keys, target: other }),
    ).rejects.toThrow('no identity matched');
    expect(await databaseExists(other)).toBe(false);
    expect(await scratchLeft()).toEqual([]);
  });

  it('round-trips with gpg and a passphrase file, and a wrong passphrase fails clearly', async () => {
    const passphraseFile = join(keyDir, 'passphrase');
    writeFileSync(passphraseFile, `${randomBytes(24).toString('base64')}\n`);
    const s = setup({ BACKUP_ENCRYPTION: 'gpg', BACKUP_GPG_PASSPHRASE_FILE: passphraseFile });
    expect((await runBackupJob({ config: s.config, logger })).ok).toBe(true);
    const backup = await findBackup(s.dir, 'latest');
    expect(backup.dumpPath).toMatch(/\.dump\.gpg$/);

    const target = newDatabaseName();
    const restored = await cli('scripts/restore.ts', ['--target', target], s.env);
    expect(restored.code).toBe(0);
    expect(restored.out).toContain(`restored ${backup.manifest.file} into ${target}`);
    expect(await checksumOf(target)).toEqual(before);

    const wrong = { ...s.env, BACKUP_GPG_PASSPHRASE_FILE: '', BACKUP_GPG_PASSPHRASE: 'not it' };
    const verify = await cli('scripts/verify-backup.ts', [], wrong);
    expect(verify.code).toBe(1);
    expect(verify.out).toContain('gpg could not decrypt the backup (wrong passphrase?)');
    expect(status(s).verify_ok).toBe(false);
  });

  it('refuses to back up "encrypted" with no key, writing nothing, and reports the failure', async () => {
    const s = setup({ BACKUP_ENCRYPTION: 'age' });
    const run = await cli('scripts/backup.ts', ['run'], s.env);
    expect(run.code).toBe(2);
    expect(run.out).toContain(
      'BACKUP_ENCRYPTION=age but BACKUP_AGE_RECIPIENTS is not set: refusing to write an unencrypted backup',
    );
    expect(existsSync(s.dir) ? readdirSync(s.dir) : []).toEqual([]);
    expect(status(s)).toMatchObject({ ok: false });
    expect(status(s).error).toContain('BACKUP_AGE_RECIPIENTS');
    expect((await readiness(s)).checks.backup.status).toBe('failed');
  });
});

describe('an interrupted backup', () => {
  let big: TestDatabase;
  beforeAll(async () => {
    // Enough data that the dump takes a few seconds: time to interrupt it in the middle.
    big = await createTestDatabase();
    await big.db.rows(sql`
      CREATE TABLE padding AS
      SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS filler
      FROM generate_series(1, 2000000) g`);
  }, 120_000);
  afterAll(async () => {
    await big?.drop();
  });

  /** Wait until the dump's temporary file holds `bytes`, then return its name. */
  async function partialGrown(dir: string, bytes: number): Promise<string> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const names = existsSync(dir) ? readdirSync(dir) : [];
      const partial = names.find((n) => n.includes('.partial-'));
      if (
        partial &&
        (statSync(join(dir, partial), { throwIfNoEntry: false })?.size ?? 0) >= bytes
      ) {
        return partial;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the dump never got going');
  }

  const looksComplete = (dir: string) =>
    readdirSync(dir).filter((n) => n.endsWith('.dump') || n.endsWith('.manifest.json'));

  it('leaves nothing and reports failure when pg_dump loses its server midway', async () => {
    const s = setup({}, big.url);
    const running = runBackupJob({ config: s.config, logger });
    await partialGrown(s.dir, 256 * 1024);
    const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
    try {
      const killed = await admin`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = ${big.name} AND application_name = 'estate-edge-pg_dump'`;
      expect(killed.length).toBe(1);
    } finally {
      await admin.end();
    }
    const outcome = await running;
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.error).toMatch(/^pg_dump exited with code 1: .+/s);
    expect(readdirSync(s.dir)).toEqual([]);
    expect(status(s)).toMatchObject({ ok: false, file: null });
    expect(status(s).error).toContain('pg_dump');
  });

  it('stops at SIGTERM, removes its temporary file and reports the interruption', async () => {
    const s = setup({}, big.url);
    const controller = new AbortController();
    const running = runBackupJob({ config: s.config, logger, signal: controller.signal });
    await partialGrown(s.dir, 256 * 1024);
    controller.abort('SIGTERM');
    const outcome = await running;
    expect(outcome).toMatchObject({ ok: false, error: 'interrupted (SIGTERM)' });
    expect(readdirSync(s.dir)).toEqual([]);
    expect(status(s)).toMatchObject({ ok: false, error: 'interrupted (SIGTERM)' });
  });

  it('leaves only a hidden temporary file, never one that looks complete, when the process is killed', async () => {
    const s = setup({}, big.url);
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'scripts/backup.ts'), 'run'],
      { env: { ...process.env, ...s.env, LOG_LEVEL: 'silent' }, stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const partial = await partialGrown(s.dir, 256 * 1024);
    child.kill('SIGKILL');
    await exited;

    expect(partial.startsWith('.')).toBe(true);
    expect(looksComplete(s.dir)).toEqual([]);
    expect((await listBackups(s.dir)).backups).toEqual([]);
    await expect(findBackup(s.dir, 'latest')).rejects.toThrow("no complete 'app' backup");
    // The killed run could not report; the next prune clears its leftovers once they are old.
    expect(existsSync(s.statusFile)).toBe(false);
    expect((await pruneBackups(s.dir, s.config.retention)).partialsRemoved).toEqual([]);
    const later = new Date(Date.now() + 2 * 86_400_000);
    expect((await pruneBackups(s.dir, s.config.retention, later)).partialsRemoved).toEqual([
      partial,
    ]);
    expect(readdirSync(s.dir)).toEqual([]);
  });
});

describe('npm run backup -- run, with Metabase and R2', () => {
  let server: Server;
  let endpoint: string;
  const puts: { url: string; bytes: number; length: string | undefined }[] = [];
  let metabase: TestDatabase;

  beforeAll(async () => {
    metabase = await createTestDatabase();
    await metabase.db.rows(sql`CREATE TABLE report_card (id int PRIMARY KEY, name text)`);
    await metabase.db.rows(
      sql`INSERT INTO report_card SELECT g, 'q' || g FROM generate_series(1, 42) g`,
    );
    server = createServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        if (req.method === 'PUT') {
          puts.push({ url: req.url ?? '', bytes, length: req.headers['content-length'] });
        }
        res.writeHead(200, { ETag: '"e"' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await metabase?.drop();
  });

  it('dumps both databases, uploads each dump and manifest, and the drill restores both', async () => {
    const s = setup({
      METABASE_DATABASE_URL: metabase.url,
      BACKUP_S3_BUCKET: 'estate-backups',
      BACKUP_S3_ENDPOINT: endpoint,
      BACKUP_S3_ACCESS_KEY_ID: 'test-key-id',
      BACKUP_S3_SECRET_ACCESS_KEY: 'test-secret',
      BACKUP_S3_PREFIX: 'prod',
    });
    const run = await cli('scripts/backup.ts', ['run'], s.env);
    expect(run.code).toBe(0);
    const events = run.out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).event);
    expect(events).toEqual([
      'backup.started',
      'backup.dumped',
      'backup.uploaded',
      'backup.dumped',
      'backup.uploaded',
      'backup.pruned',
      'backup.finished',
    ]);
    expect(run.out).not.toContain('test-secret');

    const { backups } = await listBackups(s.dir);
    const app = backups.find((b) => b.manifest.source === 'app');
    const mb = backups.find((b) => b.manifest.source === 'metabase');
    expect(mb?.manifest.row_counts['public.report_card']).toBe(42);
    // Cloned from the app's template here, so it has an (empty) listings table too.
    expect(mb?.manifest.listings).toMatchObject({ rows: 0 });
    const expected = [app, mb].flatMap((b) => [
      {
        url: `/estate-backups/prod/${b?.manifest.file}?x-id=PutObject`,
        bytes: b?.manifest.size_bytes,
      },
      {
        url: `/estate-backups/prod/${b?.manifest.file.replace(/\.dump$/, '.manifest.json')}?x-id=PutObject`,
        bytes: statSync(b?.manifestPath as string).size,
      },
    ]);
    expect(puts.map((p) => ({ url: p.url, bytes: p.bytes }))).toEqual(expected);
    expect(puts.every((p) => p.length === String(p.bytes))).toBe(true);
    expect(status(s).size_bytes).toBe(
      (app?.manifest.size_bytes ?? 0) + (mb?.manifest.size_bytes ?? 0),
    );

    const verify = await cli('scripts/verify-backup.ts', [], s.env);
    expect(verify.code).toBe(0);
    expect(verify.out.match(/"event":"verify.passed"/g)).toHaveLength(2);
    expect(status(s)).toMatchObject({ ok: true, verify_ok: true });
  });
});

describe('npm run backup -- daemon', () => {
  it('runs backups and drills on schedule, never two at once, and stops cleanly on SIGTERM', {
    timeout: 90_000,
  }, async () => {
    // Backups every second second, drills every third: every sixth second both are due at
    // once, so one of them must skip however fast the jobs run (a drill alone alternated with
    // backups and only skipped when a job outlasted a second: flaky on a fast machine).
    const s = setup({
      BACKUP_SCHEDULE: '*/2 * * * * *',
      BACKUP_VERIFY_SCHEDULE: '*/3 * * * * *',
    });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'scripts/backup.ts'), 'daemon'],
      { env: { ...process.env, ...s.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    while (
      Date.now() < deadline &&
      !(
        out.includes('"backup.finished"') &&
        out.includes('"verify.passed"') &&
        out.includes('skipped')
      )
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGTERM');
    const stoppedAt = Date.now();
    expect(await exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);

    const lines = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const events = lines.map((l) => l.event as string);
    expect(events[0]).toBe('daemon.started');
    expect(events.at(-1)).toBe('daemon.stopped');
    expect(events).toContain('backup.finished');
    expect(events).toContain('verify.passed');
    expect(events.some((e) => e.endsWith('.skipped'))).toBe(true);
    // Never two jobs at once: every start is followed by its own end before the next start.
    let open: 'backup' | 'verify' | null = null;
    for (const event of events.filter((e) => !e.startsWith('daemon.'))) {
      const [job, step] = event.split('.') as ['backup' | 'verify', string];
      if (step === 'started') {
        expect(open).toBeNull();
        open = job;
      } else if (['finished', 'failed', 'passed', 'interrupted'].includes(step)) {
        // A drill can fail before it starts (no backup yet); it never ends another job.
        expect([null, job]).toContain(open);
        open = null;
      }
    }
    expect(readdirSync(s.dir).filter((n) => n.includes('.partial-'))).toEqual([]);
    expect(await scratchLeft()).toEqual([]);
  });
});
