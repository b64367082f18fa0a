import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { connect, quoteIdent, withDatabase } from './connection.js';
import type { EncryptionKeys } from './encrypt.js';
import { VerifyError } from './errors.js';
import { compareFacts, type DatabaseFacts, databaseFacts } from './facts.js';
import { type Backup, checkIntegrity } from './manifest.js';
import { restoreInto } from './restore.js';

/**
 * The restore drill: prove a backup restores, on a real server, into a database that works. The
 * dump's sha256 must match its manifest; it is restored into a scratch database; PostGIS must
 * answer there (the dump is useless on a server without it); every table's row count and the
 * listings checksum must equal what the manifest recorded at backup time. The scratch database is
 * dropped whatever happens.
 */
export type VerifyParams = {
  backup: Backup;
  adminUrl: string;
  keys: EncryptionKeys;
  /** The scratch database's name; see `scratchDatabaseName`. */
  scratch: string;
  signal?: AbortSignal | undefined;
};

export type VerifyResult = {
  file: string;
  facts: DatabaseFacts;
  /** `postgis_full_version()` on the scratch copy, null for a database without PostGIS. */
  postgis: string | null;
  durationMs: number;
};

/**
 * Drill databases are named after the app's (`estate_verify_1a2b3c4d`), within 63 bytes and in
 * the characters `checkDatabaseName` allows.
 */
export function scratchPrefix(appDatabase: string): string {
  const safe = appDatabase.replace(/[^A-Za-z0-9_-]/g, '_').replace(/^(?![A-Za-z_])/, '_');
  return `${safe.slice(0, 40)}_verify_`;
}

export function scratchDatabaseName(appDatabase: string): string {
  return `${scratchPrefix(appDatabase)}${randomBytes(4).toString('hex')}`;
}

/**
 * Drop drill databases an interrupted drill left behind (a SIGKILL skips `finally`): each is a
 * whole copy of the data. Call it only while holding the job lock, so no live drill is dropped.
 */
export async function dropLeftoverScratch(adminUrl: string, prefix: string): Promise<string[]> {
  const admin = connect(adminUrl);
  try {
    const rows = await admin<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE starts_with(datname, ${prefix})`;
    for (const { datname } of rows) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    }
    return rows.map((r) => r.datname);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export async function verifyBackup(params: VerifyParams): Promise<VerifyResult> {
  const started = performance.now();
  const { backup } = params;
  await checkIntegrity(backup);
  try {
    await restoreInto({ ...params, noOwner: true }, params.scratch);
    const scratch = connect(withDatabase(params.adminUrl, params.scratch));
    try {
      return await scratch.begin('isolation level repeatable read, read only', async (tx) => {
        let postgis: string | null = null;
        if (backup.manifest.postgis_version) {
          const [point] = await tx<{ wkt: string; version: string }[]>`
            SELECT ST_AsText(ST_Point(1, 2)) AS wkt, postgis_full_version() AS version`;
          if (point?.wkt !== 'POINT(1 2)') {
            throw new VerifyError(`PostGIS answers ${point?.wkt} for ST_Point(1, 2)`);
          }
          postgis = point.version;
        }
        const facts = await databaseFacts(tx);
        const differences = compareFacts(backup.manifest, facts);
        if (facts.listings && facts.listings.with_geom > 0) {
          // A spatial query on the restored rows: every geometry lies within their extent.
          const [inside] = await tx<{ n: string }[]>`
            SELECT count(*)::int8 AS n FROM public.listings
            WHERE geom && (SELECT ST_SetSRID(ST_Extent(geom)::geometry,
                                             Find_SRID('public', 'listings', 'geom'))
                           FROM public.listings)`;
          if (Number(inside?.n) !== facts.listings.with_geom) {
            differences.push(
              `listings: ${inside?.n} of ${facts.listings.with_geom} geometries found within their own extent`,
            );
          }
        }
        if (differences.length > 0) {
          const shown = differences.slice(0, 5).join('; ');
          const more = differences.length > 5 ? ` (and ${differences.length - 5} more)` : '';
          throw new VerifyError(`the restored copy differs from its manifest: ${shown}${more}`);
        }
        return {
          file: basename(backup.dumpPath),
          facts,
          postgis,
          durationMs: Math.round(performance.now() - started),
        };
      });
    } finally {
      await scratch.end({ timeout: 5 });
    }
  } finally {
    const admin = connect(params.adminUrl);
    try {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(params.scratch)} WITH (FORCE)`);
    } finally {
      await admin.end({ timeout: 5 });
    }
  }
}
