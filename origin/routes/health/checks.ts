import { sql } from 'drizzle-orm';
import type { Database } from '../../db/database.js';
import { migrationStatus } from '../../db/migrate.js';
import { readBackupStatus } from '../../ops/backup.js';
import type { OpsConfig } from '../../ops/config.js';
import { diskSpace } from '../../ops/disk.js';
import { withTimeout } from '../../ops/timeout.js';
import type {
  BackupFacts,
  DatabaseFacts,
  DiskFacts,
  EtlFacts,
  MigrationFacts,
  ReadinessFacts,
  SourceFacts,
} from './assess.js';

/**
 * Budget of each check. A load balancer probes every few seconds with a timeout of its own
 * (often 5 s): a hung database must give a prompt 503, not a probe that hangs with it.
 */
export const DB_TIMEOUT_MS = 2_000;
const FILE_TIMEOUT_MS = 1_000;

const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);
const message = (error: unknown) => {
  const e = error as Error & { cause?: unknown };
  // drizzle wraps driver errors in "Failed query: <SQL>": the cause says what went wrong.
  return clip((e.cause instanceof Error ? e.cause.message : e.message) || String(error));
};

/** Gather every fact readiness judges; the checks after the ping run in parallel. */
export async function gatherReadiness(
  db: Database,
  ops: OpsConfig,
  timeoutMs = DB_TIMEOUT_MS,
): Promise<ReadinessFacts> {
  const [database, backup, disk] = await Promise.all([
    pingDatabase(db, timeoutMs),
    backupFacts(ops.backupStatusFile),
    diskFacts(ops.dataDir),
  ]);
  if (!database.up) return { database, backup, disk };
  const [migrations, etl] = await Promise.all([
    migrationFacts(db, timeoutMs),
    etlFacts(db, timeoutMs),
  ]);
  return { database, migrations, etl, backup, disk };
}

async function pingDatabase(db: Database, timeoutMs: number): Promise<DatabaseFacts> {
  const started = performance.now();
  try {
    await withTimeout(db.rows(sql`SELECT 1`), timeoutMs, 'the database');
    return { up: true, driver: db.driver, latencyMs: performance.now() - started };
  } catch (error) {
    return { up: false, driver: db.driver, error: message(error) };
  }
}

async function migrationFacts(db: Database, timeoutMs: number): Promise<MigrationFacts> {
  try {
    const status = await withTimeout(migrationStatus(db), timeoutMs, 'the migration check');
    return { known: true, applied: status.applied, available: status.available };
  } catch (error) {
    return { known: false, error: message(error) };
  }
}

type SourceRow = {
  name: string;
  enabled: boolean;
  scheduled: boolean;
  last_success_at: Date | string | null;
  age_seconds: number;
};

/** The last successful run of each source; ages are measured on the database's clock. */
export async function lastSuccessPerSource(db: Database): Promise<SourceFacts[]> {
  // The LATERAL reads each source's runs backwards on (source_id, started_at) and stops at the
  // first success: cheap however many runs a source has.
  const rows = await db.rows<SourceRow>(sql`
    SELECT s.name, s.enabled, s.schedule IS NOT NULL AS scheduled, last.finished_at AS last_success_at,
           extract(epoch FROM now() - coalesce(last.finished_at, s.created_at))::float8 AS age_seconds
    FROM etl_sources s
    LEFT JOIN LATERAL (
      SELECT r.finished_at FROM etl_runs r
      WHERE r.source_id = s.id AND r.status = 'succeeded'
      ORDER BY r.started_at DESC LIMIT 1
    ) last ON true
    ORDER BY s.name
    LIMIT 500`);
  return rows.map((r) => ({
    name: r.name,
    enabled: r.enabled,
    scheduled: r.scheduled,
    lastSuccessAt: r.last_success_at === null ? null : new Date(r.last_success_at),
    ageSeconds: Number(r.age_seconds),
  }));
}

async function etlFacts(db: Database, timeoutMs: number): Promise<EtlFacts> {
  try {
    const sources = await withTimeout(lastSuccessPerSource(db), timeoutMs, 'the ETL check');
    return { known: true, sources };
  } catch (error) {
    return { known: false, error: message(error) };
  }
}

/** The backup status file, with ages measured now. */
export async function backupFacts(path: string | undefined): Promise<BackupFacts> {
  try {
    const status = await withTimeout(
      readBackupStatus(path),
      FILE_TIMEOUT_MS,
      'the backup status file',
    );
    const ageOf = (at: Date) => Math.max(0, (Date.now() - at.getTime()) / 1000);
    if (status.state === 'pending') {
      return { ...status, ageSeconds: ageOf(status.daemonStartedAt) };
    }
    if (status.state !== 'known') return status;
    return {
      ...status,
      ageSeconds: ageOf(status.finishedAt),
      verify: status.verify ? { ...status.verify, ageSeconds: ageOf(status.verify.at) } : null,
    };
  } catch (error) {
    return { state: 'invalid', reason: message(error) };
  }
}

async function diskFacts(path: string): Promise<DiskFacts> {
  try {
    const space = await withTimeout(diskSpace(path), FILE_TIMEOUT_MS, 'the disk check');
    return { known: true, ...space };
  } catch (error) {
    return { known: false, error: message(error) };
  }
}
