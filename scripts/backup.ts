/**
 * The backup job (docs/backups.md).
 *
 *   npm run backup -- run      dump the databases now, upload, apply retention, record the status
 *   npm run backup -- daemon   run on BACKUP_SCHEDULE and the restore drill on BACKUP_VERIFY_SCHEDULE
 *   npm run backup -- prune    apply retention now
 *
 * Logs are JSON lines on stdout. Exit code: 0 ok, 1 failed (or another job held the lock),
 * 2 usage or configuration. SIGTERM / SIGINT interrupt cleanly: no half file is left under a
 * final name, and the status file says the run was interrupted.
 */
import { parseBackupEnv } from '../origin/backup/config.js';
import { startDaemon } from '../origin/backup/daemon.js';
import { BackupConfigError } from '../origin/backup/errors.js';
import { pruneJob, runBackupJob } from '../origin/backup/jobs.js';
import { recordRun } from '../origin/backup/status.js';
import { createLogger } from '../origin/logger.js';

const usage = 'usage: npm run backup -- run | daemon | prune';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || rest.length > 0 || !['run', 'daemon', 'prune'].includes(command)) {
    console.error(usage);
    return 2;
  }
  const logger = createLogger(process.env.LOG_LEVEL || 'info').child({ component: 'backup' });
  let config: ReturnType<typeof parseBackupEnv>;
  try {
    config = parseBackupEnv();
  } catch (error) {
    if (!(error instanceof BackupConfigError)) throw error;
    logger.error({ event: 'backup.config_invalid', error: error.message }, 'configuration');
    // A misconfigured nightly job is a failed backup: readiness must say so.
    const statusFile = process.env.BACKUP_STATUS_FILE;
    if (command === 'run' && statusFile) {
      await recordRun(statusFile, { finishedAt: new Date(), ok: false, error: error.message });
    }
    return 2;
  }

  const controller = new AbortController();
  if (command === 'daemon') {
    const daemon = startDaemon({ config, logger });
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
