import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const isoDate = z.iso.datetime({ offset: true });

/**
 * What the backup jobs write when they end (BACKUP_STATUS_FILE; origin/backup/status.ts writes
 * it). `finished_at`, `ok` and `size_bytes` are the original fields and keep their meaning; the
 * rest were added later and are optional, so a file from an older job still reads. The restore
 * drill (`npm run verify-backup`) writes the `verify_*` fields and leaves the others alone.
 */
export const backupStatusFileSchema = z
  .object({
    /**
     * When the last backup run ended, successfully or not. Absent (with `ok`) until the first
     * run: the daemon writes the file when it starts.
     */
    finished_at: isoDate.optional(),
    ok: z.boolean().optional(),
    /** Total size of the files the last successful run wrote. */
    size_bytes: z.number().int().nonnegative().optional(),
    /** The app database's dump that run wrote (a file name in BACKUP_DIR). */
    file: z.string().nullable().optional(),
    /** Why the last run failed; null when it succeeded. */
    error: z.string().nullable().optional(),
    /** When the last restore drill ended, and whether the restored copy matched its manifest. */
    verified_at: isoDate.nullable().optional(),
    verify_ok: z.boolean().nullable().optional(),
    verify_file: z.string().nullable().optional(),
    verify_error: z.string().nullable().optional(),
    /** When the backup daemon last started, and when its next backup is due. */
    daemon_started_at: isoDate.nullable().optional(),
    next_run_at: isoDate.nullable().optional(),
  })
  .refine((s) => (s.finished_at === undefined) === (s.ok === undefined), {
    path: ['ok'],
    message: 'finished_at and ok go together',
  })
  .refine((s) => s.finished_at !== undefined || s.daemon_started_at != null, {
    path: ['finished_at'],
    message: 'neither a run nor a daemon start is recorded',
  })
  .refine((s) => (s.verified_at == null) === (s.verify_ok == null), {
    path: ['verify_ok'],
    message: 'verified_at and verify_ok go together',
  });

export type BackupStatusFile = z.infer<typeof backupStatusFileSchema>;

/** The last restore drill. */
export type VerifyStatus = { at: Date; ok: boolean; file: string | null; error: string | null };

export type BackupStatus =
  | { state: 'unknown'; reason: string }
  | { state: 'invalid'; reason: string }
  /** The file is configured but absent: no backup job ever reported (or it cannot write it). */
  | { state: 'missing'; reason: string }
  /** The daemon runs, and its first backup is not due yet. */
  | { state: 'pending'; daemonStartedAt: Date; nextRunAt: Date | null }
  | {
      state: 'known';
      finishedAt: Date;
      ok: boolean;
      sizeBytes: number | null;
      file: string | null;
      error: string | null;
      /** Null until a restore drill has reported. */
      verify: VerifyStatus | null;
    };

/**
 * The last backup as its job reported it. No file configured is "unknown" (backups run
 * elsewhere); a configured file that does not exist is "missing": the backup daemon writes it as
 * soon as it starts, so its absence means no backup is being taken. A file we cannot read is
 * "invalid": the job that writes it is broken.
 */
export async function readBackupStatus(path: string | undefined): Promise<BackupStatus> {
  if (!path) return { state: 'unknown', reason: 'BACKUP_STATUS_FILE is not set' };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        state: 'missing',
        reason: `no backup job has reported (${path} does not exist): is the backup service running?`,
      };
    }
    return {
      state: 'invalid',
      reason: `cannot read the backup status file: ${(error as Error).message}`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: 'invalid', reason: 'the backup status file is not JSON' };
  }
  const parsed = backupStatusFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      state: 'invalid',
      reason: `the backup status file is malformed: ${issue?.path.join('.') || 'document'}: ${issue?.message}`,
    };
  }
  const s = parsed.data;
  if (s.finished_at === undefined || s.ok === undefined) {
    return {
      state: 'pending',
      daemonStartedAt: new Date(s.daemon_started_at ?? 0),
      nextRunAt: s.next_run_at ? new Date(s.next_run_at) : null,
    };
  }
  return {
    state: 'known',
    finishedAt: new Date(s.finished_at),
    ok: s.ok,
    sizeBytes: s.size_bytes ?? null,
    file: s.file ?? null,
    error: s.error ?? null,
    verify:
      s.verified_at != null && s.verify_ok != null
        ? {
            at: new Date(s.verified_at),
            ok: s.verify_ok,
            file: s.verify_file ?? null,
            error: s.verify_error ?? null,
          }
        : null,
  };
}
