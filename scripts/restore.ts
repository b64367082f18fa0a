/**
 * Restore a backup into a named database (docs/backups.md).
 *
 *   npm run restore -- --target <database> [--file <dump|manifest> | latest] [--source app|metabase]
 *                      [--force] [--no-owner] [--identity <age identity file>]
 *
 * The dump's sha256 is checked against its manifest before anything is restored; an encrypted
 * dump is decrypted on the fly (an age dump with --identity or BACKUP_AGE_IDENTITY_FILE, a gpg
 * one with the passphrase). The target is created; an existing one with tables in it is replaced
 * only with --force, and the restored database gets the replaced one's owner, privileges and
 * settings (pg_dump does not carry them: 20-estate.sh's grants would be lost).
 * Exit code: 0 restored, 1 failed, 2 usage or configuration.
 */
import { parseArgs } from 'node:util';
import { parseBackupEnv, requireAdminUrl } from '../origin/backup/config.js';
import { errorMessage } from '../origin/backup/errors.js';
import { findBackup } from '../origin/backup/manifest.js';
import { restoreBackup } from '../origin/backup/restore.js';

const usage =
  'usage: npm run restore -- --target <database> [--file <dump|manifest> | latest] [--source app|metabase] [--force] [--no-owner] [--identity <file>]';

async function main(argv: string[]): Promise<number> {
  let values: {
    target?: string;
    file?: string;
    source?: string;
    force?: boolean;
    'no-owner'?: boolean;
    identity?: string;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string' },
        file: { type: 'string' },
        source: { type: 'string', default: 'app' },
        force: { type: 'boolean', default: false },
        'no-owner': { type: 'boolean', default: false },
        identity: { type: 'string' },
      },
    }));
  } catch (error) {
    console.error(`${errorMessage(error)}\n${usage}`);
    return 2;
  }
  const which = values.file ?? positionals[0] ?? 'latest';
  if (!values.target || positionals.length > 1 || (values.file && positionals.length > 0)) {
    console.error(usage);
    return 2;
  }
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort('SIGTERM'));
  process.once('SIGINT', () => controller.abort('SIGINT'));
  try {
    const config = parseBackupEnv();
    const adminUrl = requireAdminUrl(config);
    const backup = await findBackup(config.dir, which, values.source);
    console.log(
      `restoring ${backup.manifest.file} (${backup.manifest.created_at}) into ${values.target}`,
    );
    const started = performance.now();
    await restoreBackup({
      backup,
      adminUrl,
      keys: values.identity ? { ...config.keys, ageIdentityFile: values.identity } : config.keys,
      target: values.target,
      force: values.force,
      noOwner: values['no-owner'],
      signal: controller.signal,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`restored ${backup.manifest.file} into ${values.target} in ${seconds} s`);
    return 0;
  } catch (error) {
    console.error(`restore failed: ${errorMessage(error)}`);
    return (error as { code?: string }).code === 'BACKUP_CONFIG' ? 2 : 1;
  }
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
