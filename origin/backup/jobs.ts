import { basename } from 'node:path';
import type { Logger } from '../logger.js';
import { type BackupConfig, requireAdminUrl, requireBackupSettings } from './config.js';
import { databaseName } from './connection.js';
import { dumpDatabase } from './dump.js';
import { BackupNotFoundError, BusyError, errorMessage } from './errors.js';
import { withJobLock } from './lock.js';
import { type Backup, findBackup, listBackups } from './manifest.js';
import { type PruneResult, pruneBackups } from './retention.js';
import { recordRun, recordVerify } from './status.js';
import { type BackupUploader, noopUploader, s3Uploader } from './upload.js';
import {
  dropLeftoverScratch,
  scratchDatabaseName,
  scratchPrefix,
  type VerifyResult,
  verifyBackup,
} from './verify.js';

/**
 * The three jobs, as the CLIs and the daemon run them: each takes the job lock, does its work,
 * logs one JSON line per step and records its outcome in the status file. They never throw:
 * the outcome says what happened, and the caller picks the exit code.
 */
export type JobContext = {
  config: BackupConfig;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Defaults to S3 when BACKUP_S3_BUCKET is set, else nothing. */
  uploader?: BackupUploader | undefined;
};

/** The bucket the off-site copies go to, and retention prunes; none without BACKUP_S3_BUCKET. */
function bucketOf(ctx: JobContext): BackupUploader | undefined {
  return ctx.uploader ?? (ctx.config.s3 ? s3Uploader(ctx.config.s3) : undefined);
}

/**
 * A bucket delete that failed is a warning, not a failed job: the backups are safe, local pruning
 * is done, and the next prune tries again. It says so once, with every file and why.
 */
function warnBucketPrune(logger: Logger, pruned: PruneResult): void {
  if (!pruned.bucket || pruned.bucket.failed.length === 0) return;
  logger.warn(
    {
      event: 'backup.bucket_prune_failed',
      failed: pruned.bucket.failed,
      pending: pruned.bucket.pending,
    },
    'retention could not delete every copy in the bucket; the next prune tries again',
  );
}

export type JobOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; error: string; code: string; busy: boolean };

function failure(error: unknown, signal?: AbortSignal): JobOutcome<never> {
  // Whatever broke once we were told to stop (a query cut short, a killed tool) is the stop.
  if (signal?.aborted) {
    const reason = typeof signal.reason === 'string' ? signal.reason : 'aborted';
    return { ok: false, error: `interrupted (${reason})`, code: 'INTERRUPTED', busy: false };
  }
  const code = (error as { code?: unknown }).code;
  return {
    ok: false,
    error: errorMessage(error),
    code: typeof code === 'string' ? code : 'ERROR',
    busy: error instanceof BusyError,
  };
}

/** The app database, and Metabase's when METABASE_DATABASE_URL is set. */
function sources(config: BackupConfig, appUrl: string): { source: string; url: string }[] {
  return [
    { source: 'app', url: appUrl },
    ...(config.metabaseDatabaseUrl
      ? [{ source: 'metabase', url: config.metabaseDatabaseUrl }]
      : []),
  ];
}

export type RunResult = { backups: Backup[]; uploaded: string[]; pruned: PruneResult };

/** `backup run`: dump every database, upload, apply retention; record the outcome. */
export async function runBackupJob(ctx: JobContext): Promise<JobOutcome<RunResult>> {
  const { config, logger } = ctx;
  const started = performance.now();
  let outcome: JobOutcome<RunResult>;
  try {
    const appUrl = requireBackupSettings(config);
    const bucket = bucketOf(ctx);
    const uploader = bucket ?? noopUploader;
    const value = await withJobLock(appUrl, async () => {
      logger.info({ event: 'backup.started', encryption: config.encryption }, 'backup started');
      const backups: Backup[] = [];
      const uploaded: string[] = [];
      for (const { source, url } of sources(config, appUrl)) {
        const t = performance.now();
        const backup = await dumpDatabase({
          source,
          url,
          dir: config.dir,
          encryption: config.encryption,
          keys: config.keys,
          signal: ctx.signal,
        });
        backups.push(backup);
        logger.info(
          {
            event: 'backup.dumped',
            source,
            file: backup.manifest.file,
            size_bytes: backup.manifest.size_bytes,
            sha256: backup.manifest.sha256,
            ms: Math.round(performance.now() - t),
          },
          `dumped ${source}`,
        );
        const keys = await uploader.upload(backup, ctx.signal);
        if (keys.length > 0) {
          uploaded.push(...keys);
          logger.info({ event: 'backup.uploaded', source, keys }, `uploaded ${source}`);
        }
      }
      const pruned = await pruneBackups(config.dir, config.retention, new Date(), {
        bucket,
        signal: ctx.signal,
      });
      logger.info(
        {
          event: 'backup.pruned',
          kept: pruned.kept.length,
          removed: pruned.removed.map((b) => b.manifest.file),
          partials_removed: pruned.partialsRemoved,
          ...(pruned.bucket ? { bucket_deleted: pruned.bucket.deleted } : {}),
        },
        'retention applied',
      );
      warnBucketPrune(logger, pruned);
      return { backups, uploaded, pruned };
    });
    outcome = { ok: true, value };
  } catch (error) {
    outcome = failure(error, ctx.signal);
  }
  // A job that found another one running leaves the report to that one.
  if (!(!outcome.ok && outcome.busy) && config.statusFile) {
    await recordRun(config.statusFile, {
      finishedAt: new Date(),
      ok: outcome.ok,
      sizeBytes: outcome.ok
        ? outcome.value.backups.reduce((sum, b) => sum + b.manifest.size_bytes, 0)
        : undefined,
      file: outcome.ok ? (outcome.value.backups[0]?.manifest.file ?? null) : null,
      error: outcome.ok ? null : outcome.error,
    }).catch((error: unknown) =>
      logger.error({ event: 'backup.status_unwritable', error: errorMessage(error) }, 'status'),
    );
  }
  const ms = Math.round(performance.now() - started);
  if (outcome.ok) logger.info({ event: 'backup.finished', ok: true, ms }, 'backup finished');
  else if (outcome.busy) logger.warn({ event: 'backup.skipped', reason: outcome.error }, 'skipped');
  else
    logger.error({ event: 'backup.failed', ok: false, ms, error: outcome.error }, 'backup failed');
  return outcome;
}

export type VerifyJobOptions = {
  /** `latest` (the newest backup of each source in BACKUP_DIR), or a dump or manifest path. */
  which: string;
  /** With `latest`: only this source. */
  source?: string | undefined;
};

/** `verify-backup`: the restore drill; records verified_at / verify_ok in the status file. */
export async function verifyJob(
  ctx: JobContext,
  options: VerifyJobOptions,
): Promise<JobOutcome<VerifyResult[]>> {
  const { config, logger } = ctx;
  let outcome: JobOutcome<VerifyResult[]>;
  let drilled: Backup[] = [];
  try {
    const adminUrl = requireAdminUrl(config);
    const appDatabase = config.databaseUrl ? databaseName(config.databaseUrl) : 'estate';
    const value = await withJobLock(config.databaseUrl ?? adminUrl, async () => {
      drilled = await backupsToVerify(config.dir, options);
      logger.info(
        { event: 'verify.started', files: drilled.map((b) => b.manifest.file) },
        'restore drill started',
      );
      const leftovers = await dropLeftoverScratch(adminUrl, scratchPrefix(appDatabase));
      if (leftovers.length > 0) {
        logger.warn({ event: 'verify.leftovers_dropped', databases: leftovers }, 'leftovers');
      }
      const results: VerifyResult[] = [];
      for (const backup of drilled) {
        const result = await verifyBackup({
          backup,
          adminUrl,
          keys: config.keys,
          scratch: scratchDatabaseName(appDatabase),
          signal: ctx.signal,
        });
        results.push(result);
        logger.info(
          {
            event: 'verify.passed',
            file: result.file,
            tables: Object.keys(result.facts.rowCounts).length,
            listings: result.facts.listings?.rows ?? null,
            ms: result.durationMs,
          },
          'restore drill passed',
        );
      }
      return results;
    });
    outcome = { ok: true, value };
  } catch (error) {
    outcome = failure(error, ctx.signal);
  }
  // An interrupted drill proved nothing either way (a deploy stopped it): the last real result
  // stands, rather than a "drill failed" alarm for a week.
  const conclusive = outcome.ok || (!outcome.busy && outcome.code !== 'INTERRUPTED');
  if (conclusive && config.statusFile) {
    const newest = drilled[0];
    await recordVerify(
      config.statusFile,
      {
        at: new Date(),
        ok: outcome.ok,
        file: drilled.map((b) => b.manifest.file).join(', ') || null,
        error: outcome.ok ? null : outcome.error,
      },
      newest
        ? {
            finishedAt: new Date(newest.manifest.finished_at),
            ok: true,
            sizeBytes: newest.manifest.size_bytes,
            file: newest.manifest.file,
          }
        : { finishedAt: new Date(), ok: false, error: outcome.ok ? null : outcome.error },
    ).catch((error: unknown) =>
      logger.error({ event: 'verify.status_unwritable', error: errorMessage(error) }, 'status'),
    );
  }
  if (!outcome.ok && outcome.busy) {
    logger.warn({ event: 'verify.skipped', reason: outcome.error }, 'skipped');
  } else if (!outcome.ok && outcome.code === 'INTERRUPTED') {
    logger.warn(
      { event: 'verify.interrupted', reason: outcome.error },
      'restore drill interrupted',
    );
  } else if (!outcome.ok) {
    logger.error({ event: 'verify.failed', error: outcome.error }, 'restore drill failed');
  }
  return outcome;
}

async function backupsToVerify(dir: string, options: VerifyJobOptions): Promise<Backup[]> {
  if (options.which !== 'latest') return [await findBackup(dir, options.which)];
  if (options.source) return [await findBackup(dir, 'latest', options.source)];
  const { backups } = await listBackups(dir);
  const newestPerSource = new Map<string, Backup>();
  for (const backup of backups) {
    if (!newestPerSource.has(backup.manifest.source)) {
      newestPerSource.set(backup.manifest.source, backup);
    }
  }
  if (newestPerSource.size === 0) throw new BackupNotFoundError(`no complete backup in ${dir}`);
  return [...newestPerSource.values()];
}

/** `backup prune`: apply retention now. */
export async function pruneJob(ctx: JobContext): Promise<JobOutcome<PruneResult>> {
  const { config, logger } = ctx;
  try {
    const lockUrl = config.databaseUrl ?? requireAdminUrl(config);
    const bucket = bucketOf(ctx);
    const value = await withJobLock(lockUrl, () =>
      pruneBackups(config.dir, config.retention, new Date(), { bucket, signal: ctx.signal }),
    );
    logger.info(
      {
        event: 'backup.pruned',
        kept: value.kept.map((b) => basename(b.dumpPath)),
        removed: value.removed.map((b) => basename(b.dumpPath)),
        partials_removed: value.partialsRemoved,
        ...(value.bucket ? { bucket_deleted: value.bucket.deleted } : {}),
      },
      'retention applied',
    );
    warnBucketPrune(logger, value);
    return { ok: true, value };
  } catch (error) {
    const outcome = failure(error, ctx.signal);
    if (!outcome.ok) logger.error({ event: 'backup.prune_failed', error: outcome.error }, 'prune');
    return outcome;
  }
}
