import { readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { errorMessage } from './errors.js';
import { fsyncDirectory, writeFileAtomic } from './files.js';
import { type Backup, listBackups } from './manifest.js';
import { type BackupUploader, isPlainFileName } from './upload.js';

/**
 * Grandfather-father-son retention: keep the newest backup of each of the last `daily` days that
 * have a backup, of each of the last `weekly` ISO weeks, and of each of the last `monthly` months
 * (restic's `--keep-daily/weekly/monthly` rule). Calendar periods are UTC. A period without a
 * backup does not use up a slot, so a week of failed nights never shortens how far back we reach.
 */
export type RetentionPolicy = { daily: number; weekly: number; monthly: number };

export type Dated = { createdAt: Date };

const day = (d: Date) => d.toISOString().slice(0, 10);
const month = (d: Date) => d.toISOString().slice(0, 7);

/** ISO 8601 week, e.g. `2024-W01`: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(d: Date): string {
  const date = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides the year the week belongs to.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * Split backups into those to keep and those to delete. Pure: the same input always gives the same
 * answer, whatever the clock says. The newest backup is always kept, whatever the policy.
 */
export function planRetention<T extends Dated>(
  backups: readonly T[],
  policy: RetentionPolicy,
): { keep: T[]; remove: T[] } {
  const newestFirst = [...backups].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const kept = new Set<T>();
  const newest = newestFirst[0];
  if (newest) kept.add(newest);
  const rules: [number, (d: Date) => string][] = [
    [policy.daily, day],
    [policy.weekly, isoWeek],
    [policy.monthly, month],
  ];
  for (const [slots, period] of rules) {
    const seen = new Set<string>();
    for (const backup of newestFirst) {
      if (seen.size >= slots) break;
      const key = period(backup.createdAt);
      if (seen.has(key)) continue;
      // Newest first: the first backup met in a period is that period's newest.
      seen.add(key);
      kept.add(backup);
    }
  }
  return {
    keep: newestFirst.filter((b) => kept.has(b)),
    remove: newestFirst.filter((b) => !kept.has(b)),
  };
}

/** A crashed write's temporary file older than this is garbage; younger, it may still be written. */
export const PARTIAL_GRACE_MS = 24 * 3600_000;

/** What a prune did in the bucket. */
export type BucketPrune = {
  /** Keys deleted, in order: each backup's manifest, then its dump. */
  deleted: string[];
  /** Files whose copy could not be deleted, with why; the next prune tries them again. */
  failed: { file: string; error: string }[];
  /** Files left for the next prune (the failed ones, and the dumps behind a failed manifest). */
  pending: string[];
};

export type PruneResult = {
  kept: Backup[];
  removed: Backup[];
  partialsRemoved: string[];
  /** Only when a bucket is configured. */
  bucket?: BucketPrune;
};

export type PruneOptions = {
  /** The bucket holding copies of the backups: the removed ones' copies are deleted there too. */
  bucket?: BackupUploader | undefined;
  signal?: AbortSignal | undefined;
};

/**
 * Apply the policy to `dir`, each source (app, metabase) on its own. A backup goes as a pair,
 * manifest first: from that moment it no longer counts as a backup, and a crash before the dump
 * is gone leaves a dump without a manifest, which `listBackups` reports. Also removes the
 * temporary files of writes interrupted more than a day ago. With a bucket, then deletes the
 * removed backups' copies there (see `pruneBucket`).
 */
export async function pruneBackups(
  dir: string,
  policy: RetentionPolicy,
  now = new Date(),
  options: PruneOptions = {},
): Promise<PruneResult> {
  const { backups, partials } = await listBackups(dir);
  const bySource = new Map<string, Backup[]>();
  for (const backup of backups) {
    const list = bySource.get(backup.manifest.source) ?? [];
    list.push(backup);
    bySource.set(backup.manifest.source, list);
  }
  const kept: Backup[] = [];
  const removed: Backup[] = [];
  for (const list of bySource.values()) {
    const plan = planRetention(list, policy);
    kept.push(...plan.keep);
    for (const backup of plan.remove) {
      await rm(backup.manifestPath, { force: true });
      await rm(backup.dumpPath, { force: true });
      removed.push(backup);
    }
  }
  const partialsRemoved: string[] = [];
  for (const name of partials) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => null);
    if (info && now.getTime() - info.mtimeMs > PARTIAL_GRACE_MS) {
      await rm(path, { force: true });
      partialsRemoved.push(name);
    }
  }
  if (removed.length > 0 || partialsRemoved.length > 0) await fsyncDirectory(dir);
  if (!options.bucket) return { kept, removed, partialsRemoved };
  const bucket = await pruneBucket(dir, options.bucket, removed, options.signal);
  return { kept, removed, partialsRemoved, bucket };
}

/**
 * Bucket deletes that failed, for the next prune: a hidden file in BACKUP_DIR (never taken for a
 * backup), one list per backup, in the order to delete.
 */
export const BUCKET_PENDING_FILE = '.bucket-deletes-pending.json';
const pendingSchema = z.array(z.array(z.string().refine(isPlainFileName)).min(1));

/** The deletes an earlier prune left, and whether the file is there at all. */
async function readPending(path: string): Promise<{ groups: string[][]; present: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { groups: [], present: false };
  }
  try {
    return { groups: pendingSchema.parse(JSON.parse(text)), present: true };
  } catch {
    // Not ours (we write it atomically and only valid): dropped, the lifecycle rule is the backstop.
    return { groups: [], present: true };
  }
}

/**
 * Delete the copies of the backups just removed from `dir`, by their exact keys: each backup's
 * manifest, then its dump (the local order, so a manifest in the bucket still means its dump is
 * there; when the manifest's delete fails the dump stays too). Never a listing or a pattern: the
 * prefix may be shared (another host, pgBackRest's repo), and after losing the server a fresh
 * BACKUP_DIR knows nothing of the history the bucket alone still holds. What fails is recorded in
 * BUCKET_PENDING_FILE and tried first by the next prune; local pruning stands either way.
 */
async function pruneBucket(
  dir: string,
  bucket: BackupUploader,
  removed: readonly Backup[],
  signal?: AbortSignal,
): Promise<BucketPrune> {
  const pendingPath = join(dir, BUCKET_PENDING_FILE);
  const earlier = await readPending(pendingPath);
  const queue = [
    ...earlier.groups,
    ...removed.map((b) => [basename(b.manifestPath), basename(b.dumpPath)]),
  ];
  const result: BucketPrune = { deleted: [], failed: [], pending: [] };
  const left: string[][] = [];
  for (const files of queue) {
    for (const [i, file] of files.entries()) {
      try {
        const key = await bucket.remove(file, signal);
        if (key !== null) result.deleted.push(key);
      } catch (error) {
        result.failed.push({ file, error: errorMessage(error) });
        left.push(files.slice(i));
        break;
      }
    }
  }
  result.pending = left.flat();
  try {
    if (left.length > 0) {
      await writeFileAtomic(pendingPath, `${JSON.stringify(left)}\n`);
    } else if (earlier.present) {
      await rm(pendingPath, { force: true });
      await fsyncDirectory(dir);
    }
  } catch (error) {
    // Local pruning is done and stays done; only the retry is lost (the lifecycle rule remains).
    result.failed.push({ file: BUCKET_PENDING_FILE, error: errorMessage(error) });
  }
  return result;
}
