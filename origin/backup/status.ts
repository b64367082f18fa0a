import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type BackupStatusFile, backupStatusFileSchema } from '../ops/backup.js';
import { writeFileAtomic } from './files.js';

/**
 * The status file readiness reads (origin/ops/backup.ts owns its schema). Written atomically, so
 * the origin never reads half a file; each job replaces only its own fields: a backup run keeps
 * the last drill's result, a drill keeps the last run's.
 */

export type RunReport = {
  finishedAt: Date;
  ok: boolean;
  sizeBytes?: number | undefined;
  file?: string | null | undefined;
  error?: string | null | undefined;
};

export type VerifyReport = { at: Date; ok: boolean; file: string | null; error: string | null };

async function readCurrent(path: string): Promise<BackupStatusFile | null> {
  try {
    const parsed = backupStatusFileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    // Missing or unreadable: the job rewrites it whole.
    return null;
  }
}

async function write(path: string, status: BackupStatusFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // Readable by the origin's user: it holds no secret.
  await writeFileAtomic(path, `${JSON.stringify(status, null, 2)}\n`, 0o644);
}

/** Record the end of a backup run. */
export async function recordRun(path: string, run: RunReport): Promise<void> {
  const current = await readCurrent(path);
  await write(path, {
    finished_at: run.finishedAt.toISOString(),
    ok: run.ok,
    ...(run.sizeBytes !== undefined ? { size_bytes: run.sizeBytes } : {}),
    file: run.file ?? null,
    error: run.error ?? null,
    verified_at: current?.verified_at ?? null,
    verify_ok: current?.verify_ok ?? null,
    verify_file: current?.verify_file ?? null,
    verify_error: current?.verify_error ?? null,
    daemon_started_at: current?.daemon_started_at ?? null,
    next_run_at: current?.next_run_at ?? null,
  });
}

/**
 * Record that the daemon started, keeping whatever the last jobs reported: from now on a missing
 * file means no daemon, and a first backup that never comes shows as stale.
 */
export async function recordDaemonStart(
  path: string,
  start: { at: Date; nextRunAt: Date | null },
): Promise<void> {
  const current = await readCurrent(path);
  await write(path, {
    ...(current ?? {}),
    daemon_started_at: start.at.toISOString(),
    next_run_at: start.nextRunAt?.toISOString() ?? null,
  });
}

/**
 * Record the end of a restore drill. The run fields must exist for the file to be valid: with no
 * earlier report, `runIfUnknown` stands in (the drilled backup's own manifest, or a failure when
 * there was no backup at all).
 */
export async function recordVerify(
  path: string,
  verify: VerifyReport,
  runIfUnknown: RunReport,
): Promise<void> {
  const current = await readCurrent(path);
  const run: BackupStatusFile = current?.finished_at
    ? current
    : {
        ...(current ?? {}),
        finished_at: runIfUnknown.finishedAt.toISOString(),
        ok: runIfUnknown.ok,
        ...(runIfUnknown.sizeBytes !== undefined ? { size_bytes: runIfUnknown.sizeBytes } : {}),
        file: runIfUnknown.file ?? null,
        error: runIfUnknown.error ?? null,
      };
  await write(path, {
    ...run,
    verified_at: verify.at.toISOString(),
    verify_ok: verify.ok,
    verify_file: verify.file,
    verify_error: verify.error,
  });
}
