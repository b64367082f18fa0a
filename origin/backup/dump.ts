import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { connect, pgTarget } from './connection.js';
import {
  type EncryptionKeys,
  type EncryptionKind,
  encryptionToolVersion,
  startEncryptor,
} from './encrypt.js';
import { type DatabaseFacts, databaseFacts, LISTINGS_CHECKSUM_METHOD } from './facts.js';
import { fsyncDirectory, fsyncFile, temporaryPathFor, writeFileAtomic } from './files.js';
import {
  type Backup,
  backupBaseName,
  dumpFileName,
  MANIFEST_FORMAT,
  type Manifest,
  manifestFileName,
} from './manifest.js';
import { childEnv, runTogether, startTool, type Tool, toolVersion } from './tool.js';

export type DumpParams = {
  /** A label for the database: `app` or `metabase`; the file names start with it. */
  source: string;
  url: string;
  dir: string;
  encryption: EncryptionKind;
  keys: EncryptionKeys;
  signal?: AbortSignal | undefined;
};

/**
 * Dump one database with `pg_dump -Fc` into `dir`, then write its manifest. The dump streams from
 * pg_dump through the encryptor (if any) and a hash into a temporary file; only a complete,
 * fsynced dump is renamed to its final name, and only then is the manifest written (see
 * files.ts). On any failure the temporary file is removed and nothing else is left.
 *
 * pg_dump and our facts read the same exported snapshot (`pg_dump --snapshot`), so the row counts
 * and the listings checksum in the manifest describe exactly the data in the dump, even while the
 * ETL writes.
 */
export async function dumpDatabase(params: DumpParams): Promise<Backup> {
  await mkdir(params.dir, { recursive: true, mode: 0o700 });
  const sql = connect(params.url);
  try {
    return await sql.begin('isolation level repeatable read, read only', async (tx) => {
      const [exported] = await tx<{ snapshot: string; now: Date }[]>`
        SELECT pg_export_snapshot() AS snapshot, clock_timestamp() AS now`;
      const createdAt = new Date(exported?.now as Date);
      const base = backupBaseName(params.source, createdAt);
      const file = dumpFileName(base, params.encryption);
      const dumpPath = join(params.dir, file);

      // Both read the snapshot concurrently: pg_dump in its own session, the facts in ours.
      const dumping = writeDump(params, dumpPath, exported?.snapshot as string);
      const facts = databaseFacts(tx);
      const [written, known] = await Promise.allSettled([dumping, facts]);
      if (written.status === 'rejected') throw written.reason;
      if (known.status === 'rejected') {
        await rm(dumpPath, { force: true });
        throw known.reason;
      }
      const manifest = await buildManifest(params, {
        file,
        createdAt,
        ...written.value,
        facts: known.value,
      });
      const manifestPath = join(params.dir, manifestFileName(base));
      try {
        await writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
      } catch (error) {
        await rm(dumpPath, { force: true });
        throw error;
      }
      return { manifest, manifestPath, dumpPath, createdAt };
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** pg_dump → [encrypt] → hash → temporary file; fsync; rename. Returns what was written. */
async function writeDump(
  params: DumpParams,
  dumpPath: string,
  snapshot: string,
): Promise<{ sha256: string; sizeBytes: number }> {
  const target = pgTarget(params.url);
  const temporary = temporaryPathFor(dumpPath);
  const tools: Tool[] = [];
  let encryptor: Awaited<ReturnType<typeof startEncryptor>> = null;
  try {
    encryptor = await startEncryptor(params.encryption, params.keys);
    const pgDump = startTool(
      'pg_dump',
      'pg_dump',
      [
        '--format=custom',
        `--snapshot=${snapshot}`,
        '--no-password',
        // Fail rather than queue behind a long-held lock (a migration): the nightly job retries.
        '--lock-wait-timeout=120000',
        target.dbnameArg,
      ],
      { env: childEnv({ ...target.env, PGAPPNAME: 'estate-edge-pg_dump' }), stdin: 'ignore' },
    );
    tools.push(pgDump);
    if (encryptor) tools.push(encryptor);

    const hash = createHash('sha256');
    let sizeBytes = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        sizeBytes += chunk.length;
        callback(null, chunk);
      },
    });
    const file = createWriteStream(temporary, { flags: 'wx', mode: 0o600 });
    const source = pgDump.stdout as NodeJS.ReadableStream;
    const chains = encryptor
      ? [
          [source, encryptor.stdin as NodeJS.WritableStream],
          [encryptor.stdout as NodeJS.ReadableStream, measure, file],
        ]
      : [[source, measure, file]];
    await runTogether(chains, tools, params.signal);
    await fsyncFile(temporary);
    await rename(temporary, dumpPath);
    await fsyncDirectory(params.dir);
    return { sha256: hash.digest('hex'), sizeBytes };
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  } finally {
    await encryptor?.cleanup();
  }
}

async function buildManifest(
  params: DumpParams,
  dump: {
    file: string;
    createdAt: Date;
    sha256: string;
    sizeBytes: number;
    facts: DatabaseFacts;
  },
): Promise<Manifest> {
  const [pgDumpVersion, encryptionVersion] = await Promise.all([
    toolVersion('pg_dump'),
    encryptionToolVersion(params.encryption),
  ]);
  return {
    format: MANIFEST_FORMAT,
    source: params.source,
    file: dump.file,
    created_at: dump.createdAt.toISOString(),
    finished_at: new Date().toISOString(),
    size_bytes: dump.sizeBytes,
    sha256: dump.sha256,
    encryption: params.encryption,
    dump_format: 'pg_dump custom',
    database: dump.facts.database,
    server_version: dump.facts.serverVersion,
    postgis_version: dump.facts.postgisVersion,
    row_counts: dump.facts.rowCounts,
    listings: dump.facts.listings,
    listings_checksum_method: LISTINGS_CHECKSUM_METHOD,
    tools: {
      pg_dump: pgDumpVersion,
      ...(params.encryption !== 'none' ? { [params.encryption]: encryptionVersion } : {}),
      node: process.version,
    },
  };
}
