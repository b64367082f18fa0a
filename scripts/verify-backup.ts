/**
 * The restore drill (docs/backups.md): restore a backup into a scratch database, check PostGIS
 * works there and that every row count and the listings checksum match its manifest, drop the
 * scratch database, record the result in BACKUP_STATUS_FILE (readiness reports a failure).
 *
 *   npm run verify-backup [-- --file <dump|manifest> | latest] [--source app|metabase]
 *                         [--identity <age identity file>]
 *
 * `latest` (the default) drills the newest backup of each database found in BACKUP_DIR.
 * Exit code: 0 the backup restores and matches, 1 it does not (or it could not be checked),
 * 2 usage or configuration.
 */
import { parseArgs } from 'node:util';
import { parseBackupEnv } from '../origin/backup/config.js';
import { BackupConfigError, errorMessage } from '../origin/backup/errors.js';
import { verifyJob } from '../origin/backup/jobs.js';
import { createLogger } from '../origin/logger.js';

const usage =
  'usage: npm run verify-backup [-- --file <dump|manifest> | latest] [--source app|metabase] [--identity <file>]';

async function main(argv: string[]): Promise<number> {
  let values: { file?: string; source?: string; identity?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        file: { type: 'string' },
        source: { type: 'string' },
        // The age identity, when it is not BACKUP_AGE_IDENTITY_FILE (a drill on another host).
        identity: { type: 'string' },
      },
    }));
  } catch (error) {
    console.error(`${errorMessage(error)}\n${usage}`);
    return 2;
  }
  if (positionals.length > 1 || (values.file && positionals.length > 0)) {
    console.error(usage);
    return 2;
  }
  const logger = createLogger(process.env.LOG_LEVEL || 'info').child({ component: 'backup' });
  let config: ReturnType<typeof parseBackupEnv>;
  try {
    config = parseBackupEnv();
  } catch (error) {
    if (!(error instanceof BackupConfigError)) throw error;
    console.error(`verify-backup: ${error.message}`);
    return 2;
  }
  if (values.identity)
    config = { ...config, keys: { ...config.keys, ageIdentityFile: values.identity } };
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort('SIGTERM'));
  process.once('SIGINT', () => controller.abort('SIGINT'));
  const outcome = await verifyJob(
    { config, logger, signal: controller.signal },
    { which: values.file ?? positionals[0] ?? 'latest', source: values.source },
  );
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
