/**
 * The backup job (docs/backups.md).
 *
 *   npm run backup -- run      dump the databases now, upload, apply retention, record the status
 *   npm run backup -- daemon   run on BACKUP_SCHEDULE and the restore drill on BACKUP_VERIFY_SCHEDULE
 *   npm run backup -- prune    apply retention now
 *   npm run backup -- health   exit 0 when BACKUP_STATUS_FILE says backups are being taken and the
 *                              last one is fine (the compose healthcheck), 1 with the reason
 *
 * Logs are JSON lines on stdout. Exit code: 0 ok, 1 failed (or another job held the lock),
 * 2 usage or configuration. SIGTERM / SIGINT interrupt cleanly: no half file is left under a
 * final name, and the status file says the run was interrupted.
 */
import { parseBackupEnv, requireDaemonSettings } from '../origin/backup/config.js';
import { startDaemon } from '../origin/backup/daemon.js';
import { BackupConfigError } from '../origin/backup/errors.js';
import { pruneJob, runBackupJob } from '../origin/backup/jobs.js';
import { recordDaemonStart, recordRun } from '../origin/backup/status.js';
import { createLogger } from '../origin/logger.js';
import { assessReadiness } from '../origin/routes/health/assess.js';
import { backupFacts } from '../origin/routes/health/checks.js';

const usage = 'usage: npm run backup -- run | daemon | prune | health';

/** The backup's verdict as readiness gives it: the container is healthy when readiness would not complain. */
async function health(): Promise<number> {
  const facts = await backupFacts(process.env.BACKUP_STATUS_FILE || undefined);
  const { checks, problems } = assessReadiness({
    database: { up: true, driver: 'postgres', latencyMs: 0 },
    backup: facts,
    disk: { known: true, freeBytes: 1, totalBytes: 1, freeRatio: 1 },
  });
  if (checks.backup.critical) {
    console.error(`backup ${checks.backup.status}: ${problems.join('; ') || checks.backup.reason}`);
    return 1;
  }
  console.log(`backup ${checks.backup.status}`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || rest.length > 0 || !['run', 'daemon', 'prune', 'health'].includes(command)) {
    console.error(usage);
    return 2;
  }
  if (command === 'health') return health();
  const logger = createLogger(process.env.LOG_LEVEL || 'info').child({ component: 'backup' });
  let config: ReturnType<typeof parseBackupEnv>;
  try {
    config = parseBackupEnv();
    // The daemon checks now what its jobs will need, rather than at 02:00.
    if (command === 'daemon') requireDaemonSettings(config);
  } catch (error) {
    if (!(error instanceof BackupConfigError)) throw error;
    logger.error({ event: 'backup.config_invalid', error: error.message }, 'configuration');
    // A misconfigured nightly job or daemon is a failed backup: readiness must say so, before
    // the container restarts (and fails again).
    const statusFile = process.env.BACKUP_STATUS_FILE;
    if ((command === 'run' || command === 'daemon') && statusFile) {
      await recordRun(statusFile, {
        finishedAt: new Date(),
        ok: false,
        error: `the backup ${command === 'daemon' ? 'service' : 'job'} cannot run its configuration: ${error.message}`,
      }).catch((e: unknown) =>
        logger.error({ event: 'backup.status_unwritable', error: String(e) }, 'status'),
      );
    }
    return 2;
  }

  const controller = new AbortController();
  if (command === 'daemon') {
    const daemon = startDaemon({ config, logger });
    if (config.statusFile) {
      try {
        await recordDaemonStart(config.statusFile, { at: new Date(), nextRunAt: daemon.nextRun });
      } catch (error) {
        // Without its status file nobody would hear of a failed backup: refuse to run silently.
        logger.error({ event: 'backup.status_unwritable', error: String(error) }, 'status');
        await daemon.stop('status file unwritable');
        return 1;
      }
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        daemon.stop(signal).then(resolve, resolve);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    return 0;
  }
  const interrupt = (signal: NodeJS.Signals) => controller.abort(signal);
  process.once('SIGTERM', interrupt);
  process.once('SIGINT', interrupt);
  const outcome =
    command === 'run'
      ? await runBackupJob({ config, logger, signal: controller.signal })
      : await pruneJob({ config, logger, signal: controller.signal });
  if (outcome.ok) return 0;
  return outcome.code === 'BACKUP_CONFIG' ? 2 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
