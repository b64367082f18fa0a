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
    /** When the last backup run ended, successfully or not. */
    finished_at: isoDate,
    ok: z.boolean(),
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
 * The last backup as its job reported it. No file configured, or no file yet, is "unknown" (a
 * fresh install, or backups run elsewhere), never an error; a file we cannot read is "invalid",
 * which a readiness check should flag: the job that writes it is broken.
 */
export async function readBackupStatus(path: string | undefined): Promise<BackupStatus> {
  if (!path) return { state: 'unknown', reason: 'BACKUP_STATUS_FILE is not set' };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { state: 'unknown', reason: 'no backup has reported yet' };
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
