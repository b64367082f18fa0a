import { z } from '@hono/zod-openapi';

/**
 * What readiness concludes from the facts its checks gathered. Pure, so each threshold is tested
 * without staging a broken machine.
 */

/** A daily feed that missed one run by a couple of hours is late, not yet broken. */
export const STALE_AFTER_SECONDS = 26 * 3600;
/** Backups are daily too. */
export const BACKUP_STALE_AFTER_SECONDS = 26 * 3600;
/** Below this share of free space, PostgreSQL and the ETL's temp files are at risk. */
export const MIN_DISK_FREE_RATIO = 0.1;

export type DatabaseFacts =
  | { up: true; driver: string; latencyMs: number }
  | { up: false; driver: string; error: string };

export type MigrationFacts =
  | { known: true; applied: number; available: number }
  | { known: false; error: string };

export type SourceFacts = {
  name: string;
  enabled: boolean;
  scheduled: boolean;
  lastSuccessAt: Date | null;
  /** Seconds since the last success, or since the source was declared when it never succeeded. */
  ageSeconds: number;
};

export type EtlFacts = { known: true; sources: SourceFacts[] } | { known: false; error: string };

/** The last restore drill (`npm run verify-backup`), as the backup status file reports it. */
export type VerifyFacts = {
  at: Date;
  ok: boolean;
  file: string | null;
  error: string | null;
  ageSeconds: number;
};

export type BackupFacts =
  | { state: 'unknown'; reason: string }
  | { state: 'invalid'; reason: string }
  /** BACKUP_STATUS_FILE is set but absent: no backup daemon ever reported. */
  | { state: 'missing'; reason: string }
  /** The daemon started `ageSeconds` ago and has not run its first backup yet. */
  | { state: 'pending'; daemonStartedAt: Date; nextRunAt: Date | null; ageSeconds: number }
  | {
      state: 'known';
      finishedAt: Date;
      ok: boolean;
      sizeBytes: number | null;
      ageSeconds: number;
      /** The app dump the last run wrote. */
      file?: string | null | undefined;
      /** Why the last run failed. */
      error?: string | null | undefined;
      /** Null or absent until a drill has reported. */
      verify?: VerifyFacts | null | undefined;
    };

export type DiskFacts =
  | { known: true; freeBytes: number; totalBytes: number; freeRatio: number }
  | { known: false; error: string };

export type ReadinessFacts = {
  database: DatabaseFacts;
  migrations?: MigrationFacts | undefined;
  etl?: EtlFacts | undefined;
  backup: BackupFacts;
  disk: DiskFacts;
};

const databaseCheckSchema = z.object({
  status: z.enum(['up', 'down']),
  driver: z.string(),
  latency_ms: z.number().optional(),
  error: z.string().optional(),
});
const migrationsCheckSchema = z.object({
  status: z.enum(['ok', 'pending', 'unknown']),
  applied: z.number().int().optional(),
  available: z.number().int().optional(),
  error: z.string().optional(),
});
const etlCheckSchema = z.object({
  status: z.enum(['ok', 'stale', 'unknown']),
  sources: z
    .array(
      z.object({
        name: z.string(),
        enabled: z.boolean(),
        scheduled: z.boolean(),
        last_success_at: z.string().nullable().openapi({ format: 'date-time' }),
        age_seconds: z.number().int().nullable(),
        stale: z.boolean().openapi({ description: 'Only enabled, scheduled sources can be stale' }),
      }),
    )
    .optional(),
  error: z.string().optional(),
});
const backupCheckSchema = z.object({
  status: z.enum(['ok', 'stale', 'failed', 'invalid', 'missing', 'unknown']).openapi({
    description:
      '`failed` when the last backup failed (a backup service that cannot run its configuration ' +
      'included) or the last restore drill of one did; `missing` when the status file is ' +
      'configured but no backup job ever wrote it; `unknown` when none is configured, or the ' +
      "daemon's first backup is not due yet",
  }),
  critical: z
    .boolean()
    .optional()
    .openapi({
      description:
        'True when the backup is failed, missing, stale (none in 26 h) or its status unreadable: ' +
        'the data is not protected, and the alert should page someone',
    }),
  next_run_at: z.string().nullable().optional().openapi({ format: 'date-time' }),
  finished_at: z.string().optional().openapi({ format: 'date-time' }),
  age_seconds: z.number().int().optional(),
  size_bytes: z.number().int().nullable().optional(),
  file: z.string().nullable().optional(),
  error: z.string().optional(),
  reason: z.string().optional(),
  verify: z
    .object({
      status: z.enum(['ok', 'failed']),
      verified_at: z.string().openapi({ format: 'date-time' }),
      age_seconds: z.number().int(),
      file: z.string().nullable(),
      error: z.string().optional(),
    })
    .optional()
    .openapi({ description: 'The last restore drill; absent until one has run' }),
});
const diskCheckSchema = z.object({
  status: z.enum(['ok', 'low', 'unknown']),
  free_bytes: z.number().optional(),
  total_bytes: z.number().optional(),
  free_ratio: z.number().optional(),
  error: z.string().optional(),
});

export const readinessSchema = z
  .object({
    status: z.enum(['ok', 'degraded', 'down']),
    problems: z.array(z.string()).openapi({
      description: 'One sentence per thing that is not ok, for the operator reading the probe',
    }),
    checks: z.object({
      database: databaseCheckSchema,
      migrations: migrationsCheckSchema,
      etl: etlCheckSchema,
      backup: backupCheckSchema,
      disk: diskCheckSchema,
    }),
  })
  .openapi('Readiness');

export type Readiness = z.infer<typeof readinessSchema>;

/** Readiness for a caller who may not see the details (routes/health/audience.ts). */
export const readinessStatusSchema = z
  .object({ status: readinessSchema.shape.status })
  .openapi('ReadinessStatus');
type Checks = Readiness['checks'];

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
/** A job's error goes into a probe answer read by people and log pipelines: keep it short. */
const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

/**
 * The database is the one critical dependency: without it nothing answers, so it alone makes the
 * origin "down" (503, take it out of the pool). Everything else is "degraded": it still serves,
 * and an operator should look.
 */
export function assessReadiness(facts: ReadinessFacts): Readiness {
  const problems: string[] = [];
  let down = false;

  const { database } = facts;
  let databaseCheck: Checks['database'];
  if (database.up) {
    databaseCheck = {
      status: 'up',
      driver: database.driver,
      latency_ms: round(database.latencyMs, 1),
    };
  } else {
    down = true;
    problems.push(`database unreachable: ${database.error}`);
    databaseCheck = { status: 'down', driver: database.driver, error: database.error };
  }

  let migrationsCheck: Checks['migrations'] = { status: 'unknown' };
  const { migrations } = facts;
  if (migrations?.known) {
    const current = migrations.applied >= migrations.available;
    if (!current) {
      problems.push(
        `${migrations.available - migrations.applied} migration(s) pending: run npm run migrate`,
      );
    }
    migrationsCheck = {
      status: current ? 'ok' : 'pending',
      applied: migrations.applied,
      available: migrations.available,
    };
  } else if (migrations) {
    problems.push(`migration status unknown: ${migrations.error}`);
    migrationsCheck = { status: 'unknown', error: migrations.error };
  }

  let etlCheck: Checks['etl'] = { status: 'unknown' };
  const { etl } = facts;
  if (etl?.known) {
    // Only sources that are meant to run by themselves can be late; a source loaded by hand
    // (the shipped sample) is reported with its age but never judged.
    const sources = etl.sources.map((s) => {
      const judged = s.enabled && s.scheduled;
      const stale = judged && s.ageSeconds > STALE_AFTER_SECONDS;
      if (stale) {
        problems.push(
          s.lastSuccessAt
            ? `source '${s.name}' last succeeded ${round(s.ageSeconds / 3600, 1)} h ago`
            : `source '${s.name}' has not succeeded since it was declared ${round(s.ageSeconds / 3600, 1)} h ago`,
        );
      }
      return {
        name: s.name,
        enabled: s.enabled,
        scheduled: s.scheduled,
        last_success_at: s.lastSuccessAt?.toISOString() ?? null,
        age_seconds: s.lastSuccessAt ? Math.round(s.ageSeconds) : null,
        stale,
      };
    });
    etlCheck = { status: sources.some((s) => s.stale) ? 'stale' : 'ok', sources };
  } else if (etl) {
    problems.push(`ETL status unknown: ${etl.error}`);
    etlCheck = { status: 'unknown', error: etl.error };
  }

  let backupCheck: Checks['backup'];
  const { backup } = facts;
  // Backups are not a dependency of serving, so none of this makes readiness `down` (a 503 would
  // take a healthy API out of service over a backup); a failed, missing or stale backup is
  // `critical` instead: the data is unprotected, and the alert that says so should page.
  if (backup.state === 'unknown') {
    backupCheck = { status: 'unknown', reason: backup.reason };
  } else if (backup.state === 'invalid' || backup.state === 'missing') {
    problems.push(backup.reason);
    backupCheck = { status: backup.state, critical: true, reason: backup.reason };
  } else if (backup.state === 'pending') {
    const stale = backup.ageSeconds > BACKUP_STALE_AFTER_SECONDS;
    const started = backup.daemonStartedAt.toISOString();
    if (stale) {
      problems.push(
        `no backup since the backup service started ${round(backup.ageSeconds / 3600, 1)} h ago`,
      );
    }
    backupCheck = stale
      ? { status: 'stale', critical: true, age_seconds: Math.round(backup.ageSeconds) }
      : {
          status: 'unknown',
          reason: `the backup service started at ${started}; its first backup is due at ${backup.nextRunAt?.toISOString() ?? 'an unknown time'}`,
          next_run_at: backup.nextRunAt?.toISOString() ?? null,
        };
  } else {
    const stale = backup.ageSeconds > BACKUP_STALE_AFTER_SECONDS;
    const error = backup.error ? clip(backup.error) : undefined;
    if (!backup.ok) {
      problems.push(
        `the last backup failed (${backup.finishedAt.toISOString()})${error ? `: ${error}` : ''}`,
      );
    } else if (stale) {
      problems.push(`the last backup is ${round(backup.ageSeconds / 3600, 1)} h old`);
    }
    // A backup that does not restore is no backup: a failed drill is a failure until one passes.
    const { verify } = backup;
    const verifyError = verify?.error ? clip(verify.error) : undefined;
    if (verify && !verify.ok) {
      problems.push(
        `the last restore drill failed (${verify.at.toISOString()}${verify.file ? `, ${verify.file}` : ''})${verifyError ? `: ${verifyError}` : ''}`,
      );
    }
    const status = !backup.ok || (verify && !verify.ok) ? 'failed' : stale ? 'stale' : 'ok';
    backupCheck = {
      status,
      ...(status === 'ok' ? {} : { critical: true }),
      finished_at: backup.finishedAt.toISOString(),
      age_seconds: Math.round(backup.ageSeconds),
      size_bytes: backup.sizeBytes,
      ...(backup.file !== undefined ? { file: backup.file } : {}),
      ...(error ? { error } : {}),
      ...(verify
        ? {
            verify: {
              status: verify.ok ? ('ok' as const) : ('failed' as const),
              verified_at: verify.at.toISOString(),
              age_seconds: Math.round(verify.ageSeconds),
              file: verify.file,
              ...(verifyError ? { error: verifyError } : {}),
            },
          }
        : {}),
    };
  }

  let diskCheck: Checks['disk'];
  const { disk } = facts;
  if (disk.known) {
    const low = disk.freeRatio < MIN_DISK_FREE_RATIO;
    if (low) problems.push(`disk ${round(disk.freeRatio * 100, 1)}% free`);
    diskCheck = {
      status: low ? 'low' : 'ok',
      free_bytes: disk.freeBytes,
      total_bytes: disk.totalBytes,
      free_ratio: round(disk.freeRatio, 4),
    };
  } else {
    problems.push(`disk space unknown: ${disk.error}`);
    diskCheck = { status: 'unknown', error: disk.error };
  }

  return {
    status: down ? 'down' : problems.length > 0 ? 'degraded' : 'ok',
    problems,
    checks: {
      database: databaseCheck,
      migrations: migrationsCheck,
      etl: etlCheck,
      backup: backupCheck,
      disk: diskCheck,
    },
  };
}
