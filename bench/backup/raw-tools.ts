/**
 * The limit of the backup benchmark: PostgreSQL's own tools with nothing around them. `pg_dump -Fc`
 * straight to a file (no hash, no manifest, no fsync, no rename) and `pg_restore` straight into a
 * new database (not in one transaction, no integrity check, no staging name). Run through the
 * backup library's `startTool` and `runTogether`, so a failure reports the tool's stderr, and an
 * abort stops the tool, the same way as in the library.
 */
import type postgres from 'postgres';
import { pgTarget, quoteIdent, withDatabase } from '../../origin/backup/connection.js';
import { childEnv, runTogether, startTool } from '../../origin/backup/tool.js';

/** `pg_dump --format=custom --file=<path>` of the database at `url`. */
export async function rawDump(url: string, path: string, signal?: AbortSignal): Promise<void> {
  const target = pgTarget(url);
  const tool = startTool(
    'pg_dump',
    'pg_dump',
    ['--format=custom', `--file=${path}`, '--no-password', target.dbnameArg],
    { env: childEnv(target.env), stdin: 'ignore', stdout: 'ignore' },
  );
  await runTogether([], [tool], signal);
}

/**
 * `CREATE DATABASE <name> TEMPLATE template0`, then `pg_restore --exit-on-error` of `path` into
 * it: the same two steps the library's restore takes, without its transaction and checks.
 */
export async function rawRestore(
  admin: postgres.Sql,
  adminUrl: string,
  name: string,
  path: string,
  signal?: AbortSignal,
): Promise<void> {
  await admin.unsafe(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
  const target = pgTarget(withDatabase(adminUrl, name));
  const tool = startTool(
    'pg_restore',
    'pg_restore',
    [target.dbnameArg, '--no-password', '--exit-on-error', path],
    { env: childEnv(target.env), stdin: 'ignore', stdout: 'ignore' },
  );
  await runTogether([], [tool], signal);
}
