import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type postgres from 'postgres';
import { checkDatabaseName, connect, pgTarget, quoteIdent, withDatabase } from './connection.js';
import { type EncryptionKeys, type Filter, startDecryptor } from './encrypt.js';
import { TargetNotEmptyError } from './errors.js';
import { type Backup, checkIntegrity } from './manifest.js';
import { childEnv, runTogether, startTool, type Tool } from './tool.js';

export type RestoreIntoParams = {
  backup: Backup;
  /** A superuser (or a role that may create databases and the PostGIS extension). */
  adminUrl: string;
  keys: EncryptionKeys;
  /**
   * Leave out owners and grants: objects belong to the restoring role. For a restore drill, and
   * for a server that does not have the original roles.
   */
  noOwner?: boolean | undefined;
  signal?: AbortSignal | undefined;
};

/**
 * Create `database` (it must not exist) and restore the backup into it, in one transaction:
 * either every object and row is there, or the database is dropped again. The dump streams from
 * disk through the decryptor (when encrypted) into pg_restore: no plaintext copy on disk, no
 * whole dump in memory. The caller checked integrity first.
 */
export async function restoreInto(params: RestoreIntoParams, database: string): Promise<void> {
  checkDatabaseName(database);
  const admin = connect(params.adminUrl);
  try {
    // template0: a restore must start from nothing (template1 may carry extensions or tables
    // that would collide with the dump's own CREATE statements).
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0`);
    try {
      await pgRestore(params, withDatabase(params.adminUrl, database));
    } catch (error) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
      throw error;
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

async function pgRestore(params: RestoreIntoParams, url: string): Promise<void> {
  const target = pgTarget(url);
  let decryptor: Filter | null = null;
  try {
    decryptor = await startDecryptor(params.backup.manifest.encryption, params.keys);
    const pgRestoreTool = startTool(
      'pg_restore',
      'pg_restore',
      [
        target.dbnameArg,
        '--no-password',
        '--single-transaction',
        '--exit-on-error',
        ...(params.noOwner ? ['--no-owner', '--no-privileges'] : []),
      ],
      { env: childEnv({ ...target.env, PGAPPNAME: 'estate-edge-restore' }), stdout: 'ignore' },
    );
    const tools: Tool[] = decryptor ? [decryptor, pgRestoreTool] : [pgRestoreTool];
    const file = createReadStream(params.backup.dumpPath);
    const sink = pgRestoreTool.stdin as NodeJS.WritableStream;
    const chains = decryptor
      ? [
          [file, decryptor.stdin as NodeJS.WritableStream],
          [decryptor.stdout as NodeJS.ReadableStream, sink],
        ]
      : [[file, sink]];
    await runTogether(chains, tools, params.signal);
  } finally {
    await decryptor?.cleanup();
  }
}

/** User objects in a database: tables, views, sequences, functions, types not from an extension. */
export async function userObjectCount(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<{ n: string }[]>`
    SELECT count(*)::int8 AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
      AND NOT EXISTS (
        SELECT 1 FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;
  return Number(row?.n);
}

export type RestoreParams = RestoreIntoParams & {
  /** The database to restore into; created, or replaced with `force`. */
  target: string;
  /** Replace `target` even when it holds tables. */
  force?: boolean | undefined;
};

/**
 * Restore a backup into a named database. The dump's sha256 is checked against its manifest
 * first. The restore goes into a fresh staging database, renamed to `target` only once complete:
 * a failed restore never leaves `target` half-restored, nor destroys a database that was there.
 * An existing `target` with tables in it is replaced only with `force` (its connections are
 * closed: stop the origin first).
 */
export async function restoreBackup(params: RestoreParams): Promise<{ database: string }> {
  const target = checkDatabaseName(params.target, 'the target database');
  await checkIntegrity(params.backup);

  const admin = connect(params.adminUrl);
  try {
    const exists = await databaseExists(admin, target);
    if (exists) {
      const existing = connect(withDatabase(params.adminUrl, target));
      let objects: number;
      try {
        objects = await userObjectCount(existing);
      } finally {
        await existing.end({ timeout: 5 });
      }
      if (objects > 0 && !params.force) {
        throw new TargetNotEmptyError(
          `database ${target} exists and holds ${objects} table(s), view(s) or sequence(s): pass --force to replace it, or restore into a new name`,
        );
      }
    }
    // What pg_dump does not carry (it dumps what is inside a database, not the database itself):
    // its owner, who may connect (20-estate.sh's REVOKE ... FROM PUBLIC and GRANT CONNECT), its
    // settings. A restore in place keeps the target's; without them the restored database would
    // belong to the restoring superuser and be open to every role.
    const properties = exists && !params.noOwner ? await databaseProperties(admin, target) : null;
    // 63 bytes at most: the target's first 40, the suffix 19.
    const staging = `${target.slice(0, 40)}_restoring_${randomBytes(4).toString('hex')}`;
    await restoreInto(params, staging);
    if (properties) {
      try {
        await applyDatabaseProperties(admin, staging, properties);
      } catch (error) {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`);
        throw error;
      }
    }
    if (exists) {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(target)} WITH (FORCE)`);
      } catch (error) {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`);
        throw error;
      }
    }
    try {
      await admin.unsafe(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target)}`);
    } catch (error) {
      // The old target may be gone already: keep the restored copy, and say where it is.
      throw new Error(
        `restored into ${staging}, but could not rename it to ${target}: ${(error as Error).message}`,
      );
    }
    return { database: target };
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export async function databaseExists(admin: postgres.Sql, name: string): Promise<boolean> {
  const rows = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
  return rows.length > 0;
}

/** A database's own properties: what `pg_dump` without `--create` leaves out. */
export type DatabaseProperties = {
  owner: string;
  /** Null: the default privileges (PUBLIC may connect). */
  grants: { grantee: string | null; privilege: string; grantable: boolean }[] | null;
  /** `ALTER DATABASE ... SET` (role null) and `ALTER ROLE ... IN DATABASE ... SET`. */
  settings: { role: string | null; name: string; value: string }[];
};

export async function databaseProperties(
  admin: postgres.Sql,
  database: string,
): Promise<DatabaseProperties> {
  const [db] = await admin<{ oid: number; owner: string; has_acl: boolean }[]>`
    SELECT oid, pg_get_userbyid(datdba) AS owner, datacl IS NOT NULL AS has_acl
    FROM pg_database WHERE datname = ${database}`;
  if (!db) throw new Error(`database ${database} does not exist`);
  const grants = db.has_acl
    ? await admin<{ grantee: string | null; privilege: string; grantable: boolean }[]>`
        SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
               a.privilege_type AS privilege, a.is_grantable AS grantable
        FROM pg_database d, aclexplode(d.datacl) a WHERE d.oid = ${db.oid}
        ORDER BY 1 NULLS FIRST, 2`
    : null;
  const rows = await admin<{ role: string | null; config: string[] }[]>`
    SELECT CASE WHEN setrole = 0 THEN NULL ELSE pg_get_userbyid(setrole) END AS role,
           setconfig AS config
    FROM pg_db_role_setting WHERE setdatabase = ${db.oid}`;
  const settings = rows.flatMap((r) =>
    r.config.map((entry) => {
      const at = entry.indexOf('=');
      return { role: r.role, name: entry.slice(0, at), value: entry.slice(at + 1) };
    }),
  );
  return { owner: db.owner, grants: grants ? [...grants] : null, settings };
}

const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** Give `database` the owner, privileges and settings another database had. */
export async function applyDatabaseProperties(
  admin: postgres.Sql,
  database: string,
  properties: DatabaseProperties,
): Promise<void> {
  const db = quoteIdent(database);
  await admin.begin(async (tx) => {
    await tx.unsafe(`ALTER DATABASE ${db} OWNER TO ${quoteIdent(properties.owner)}`);
    if (properties.grants) {
      // From nothing: the new database has the default privileges (PUBLIC may connect).
      await tx.unsafe(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
      for (const g of properties.grants) {
        // The owner's own rights are implicit; granting them again is harmless.
        const grantee = g.grantee === null ? 'PUBLIC' : quoteIdent(g.grantee);
        await tx.unsafe(
          `GRANT ${g.privilege} ON DATABASE ${db} TO ${grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
        );
      }
    }
    for (const setting of properties.settings) {
      const target = setting.role
        ? `ROLE ${quoteIdent(setting.role)} IN DATABASE ${db}`
        : `DATABASE ${db}`;
      await tx.unsafe(
        `ALTER ${target} SET ${quoteIdent(setting.name)} TO ${quoteLiteral(setting.value)}`,
      );
    }
  });
}
