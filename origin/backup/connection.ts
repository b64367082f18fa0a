import postgres from 'postgres';
import { BackupConfigError } from './errors.js';

/**
 * How the backup tools reach PostgreSQL. URLs come from the environment; the password never goes
 * on a command line (any user on the host can read another process's arguments): pg_dump and
 * pg_restore get the URL without it and the password in PGPASSWORD.
 */
export type PgTarget = { dbnameArg: string; env: NodeJS.ProcessEnv; database: string };

export function pgTarget(url: string): PgTarget {
  const parsed = parseUrl(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return {
    dbnameArg: `--dbname=${parsed.toString()}`,
    env: password ? { PGPASSWORD: password } : {},
    database: databaseName(url),
  };
}

/** The database a URL names (its path), e.g. `estate` for postgres://host/estate. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(parseUrl(url).pathname.replace(/^\//, ''));
  if (!name) throw new BackupConfigError('the database URL names no database');
  return name;
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, name: string): string {
  const parsed = parseUrl(url);
  parsed.pathname = `/${encodeURIComponent(name)}`;
  return parsed.toString();
}

function parseUrl(url: string): URL {
  try {
    const parsed = new URL(url);
    if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new Error('not postgres');
    return parsed;
  } catch {
    // Never echo the URL: it may carry a password.
    throw new BackupConfigError('a database URL is not a postgres:// URL');
  }
}

/**
 * A database name we create or drop ourselves. Letters, digits, `_` and `-` only, so it can be
 * quoted safely and typed by an operator; at most 63 bytes, PostgreSQL's limit (it would truncate
 * silently, and we would then drop a database of another name).
 */
export function checkDatabaseName(name: string, what = 'database name'): string {
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name)) {
    throw new BackupConfigError(
      `${what} '${name.slice(0, 80)}' must be 1-63 letters, digits, _ or -, starting with a letter or _`,
    );
  }
  if (['postgres', 'template0', 'template1'].includes(name)) {
    throw new BackupConfigError(`${what} '${name}' is a system database`);
  }
  return name;
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A short-lived client for a few administrative statements. */
export function connect(url: string): postgres.Sql {
  return postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'estate-edge-backup' },
  });
}
