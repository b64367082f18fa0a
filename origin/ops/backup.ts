import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** What the backup job writes when it ends (see BACKUP_STATUS_FILE). */
const backupStatusFileSchema = z.object({
  finished_at: z.iso.datetime({ offset: true }),
  ok: z.boolean(),
  size_bytes: z.number().int().nonnegative().optional(),
});

export type BackupStatus =
  | { state: 'unknown'; reason: string }
  | { state: 'invalid'; reason: string }
  | { state: 'known'; finishedAt: Date; ok: boolean; sizeBytes: number | null };

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
  return {
    state: 'known',
    finishedAt: new Date(parsed.data.finished_at),
    ok: parsed.data.ok,
    sizeBytes: parsed.data.size_bytes ?? null,
  };
}
