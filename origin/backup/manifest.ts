import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { ENCRYPTION_SUFFIX } from './encrypt.js';
import { BackupNotFoundError, IntegrityError } from './errors.js';
import { hashFile, isPartialName } from './files.js';

/**
 * Each dump has a manifest beside it, written after the dump is complete and durable: a dump
 * without its manifest is not a backup (we could not tell whether it is whole). The manifest says
 * what the file is (sha256, size, encryption) and what the database held at that instant (row
 * counts, a checksum of the listings), so a restore can prove it got the same data back.
 */

const MANIFEST_FORMAT = 'estate-edge-backup/1';
const MANIFEST_SUFFIX = '.manifest.json';
const isoDate = z.iso.datetime({ offset: true });
/** A name in the backup directory, never a path: a hostile manifest cannot point elsewhere. */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain file name');

export const listingsFactsSchema = z.object({
  rows: z.number().int().nonnegative(),
  /** See LISTINGS_CHECKSUM_METHOD. */
  checksum: z.string().regex(/^[0-9a-f]{32}$/),
  with_geom: z.number().int().nonnegative(),
  /** ST_Extent of the geometries as text, null without any. */
  extent: z.string().nullable(),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  /** Which database this is a backup of: `app` (DATABASE_URL) or `metabase`. */
  source: z.string().regex(/^[a-z][a-z0-9-]*$/),
  /** The dump file, beside the manifest. */
  file: fileName,
  /** When the snapshot was taken: the dump and every fact below show the database at this instant. */
  created_at: isoDate,
  finished_at: isoDate,
  size_bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  encryption: z.enum(['none', 'age', 'gpg']),
  dump_format: z.literal('pg_dump custom'),
  /** The database's name on its server. */
  database: z.string(),
  server_version: z.string(),
  postgis_version: z.string().nullable(),
  /** Exact row count of every user table, by schema-qualified name. */
  row_counts: z.record(z.string(), z.number().int().nonnegative()),
  /** Null when the database has no `public.listings` (Metabase's). */
  listings: listingsFactsSchema.nullable(),
  listings_checksum_method: z.string(),
  tools: z.record(z.string(), z.string().nullable()),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ListingsFacts = z.infer<typeof listingsFactsSchema>;
export { MANIFEST_FORMAT };

/** A complete backup on disk: its manifest parsed, its dump present. */
export type Backup = {
  manifest: Manifest;
  manifestPath: string;
  dumpPath: string;
  createdAt: Date;
};

/** `app-20240501T020000.123Z`: sorts by time, names its source, unique to the millisecond. */
export function backupBaseName(source: string, createdAt: Date): string {
  const stamp = createdAt.toISOString().replace(/[-:]/g, '');
  return `${source}-${stamp}`;
}

export function dumpFileName(base: string, encryption: Manifest['encryption']): string {
  return `${base}.dump${ENCRYPTION_SUFFIX[encryption]}`;
}

export function manifestFileName(base: string): string {
  return `${base}${MANIFEST_SUFFIX}`;
}

/** The manifest beside a dump file (`x.dump`, `x.dump.age`, `x.dump.gpg`). */
export function manifestPathForDump(dumpPath: string): string | null {
  const match = /^(.*)\.dump(\.age|\.gpg)?$/.exec(basename(dumpPath));
  return match ? join(dirname(dumpPath), manifestFileName(match[1] as string)) : null;
}

/** Ours are a few kilobytes; anything far bigger is not one, and is not read into memory. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

export async function readManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    if ((await stat(path)).size > MAX_MANIFEST_BYTES) {
      throw new IntegrityError(`the manifest ${path} is over 1 MB: not a manifest`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    throw new BackupNotFoundError(
      `cannot read the manifest ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new IntegrityError(`the manifest ${path} is not JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new IntegrityError(
      `the manifest ${path} is malformed: ${issue?.path.join('.') || 'document'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

export type BackupListing = {
  /** Complete backups, newest first. */
  backups: Backup[];
  /** Temporary files of interrupted writes (hidden `.…partial-…` names). */
  partials: string[];
  /** Dumps without a manifest, and manifests that could not be read, with why. */
  problems: string[];
};

/** Every complete backup in `dir` (all sources, or one), newest first. */
export async function listBackups(dir: string, source?: string): Promise<BackupListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { backups: [], partials: [], problems: [] };
    }
    throw error;
  }
  const backups: Backup[] = [];
  const partials: string[] = [];
  const problems: string[] = [];
  const described = new Set<string>();
  for (const name of names) {
    if (isPartialName(name)) {
      partials.push(name);
      continue;
    }
    if (!name.endsWith(MANIFEST_SUFFIX)) continue;
    const manifestPath = join(dir, name);
    let manifest: Manifest;
    try {
      manifest = await readManifest(manifestPath);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    described.add(manifest.file);
    if (source && manifest.source !== source) continue;
    const dumpPath = join(dir, manifest.file);
    try {
      await stat(dumpPath);
    } catch {
      problems.push(`${name} describes ${manifest.file}, which is missing`);
      continue;
    }
    backups.push({ manifest, manifestPath, dumpPath, createdAt: new Date(manifest.created_at) });
  }
  for (const name of names) {
    if (/\.dump(\.age|\.gpg)?$/.test(name) && !isPartialName(name) && !described.has(name)) {
      problems.push(`${name} has no manifest: it is not a usable backup`);
    }
  }
  backups.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  return { backups, partials, problems };
}

/**
 * The backup to restore: `latest` (the newest complete backup of `source`), or a file, given as
 * the dump or its manifest.
 */
export async function findBackup(dir: string, which: string, source = 'app'): Promise<Backup> {
  if (which === 'latest') {
    const { backups } = await listBackups(dir, source);
    const newest = backups[0];
    if (!newest) throw new BackupNotFoundError(`no complete '${source}' backup in ${dir}`);
    return newest;
  }
  const manifestPath = which.endsWith(MANIFEST_SUFFIX) ? which : manifestPathForDump(which);
  if (!manifestPath) {
    throw new BackupNotFoundError(
      `${which} is not a backup file (expected <name>.dump[.age|.gpg] or <name>${MANIFEST_SUFFIX})`,
    );
  }
  const manifest = await readManifest(manifestPath);
  const dumpPath = join(dirname(manifestPath), manifest.file);
  try {
    await stat(dumpPath);
  } catch {
    throw new BackupNotFoundError(`${dumpPath} is missing (its manifest is ${manifestPath})`);
  }
  return { manifest, manifestPath, dumpPath, createdAt: new Date(manifest.created_at) };
}

/**
 * Prove the dump is the file its manifest describes, before anything reads it: a flipped bit or a
 * truncated upload must stop a restore before it touches a database.
 */
export async function checkIntegrity(backup: Backup): Promise<void> {
  const { sha256, sizeBytes } = await hashFile(backup.dumpPath);
  const expected = backup.manifest;
  if (sha256 === expected.sha256 && sizeBytes === expected.size_bytes) return;
  const size =
    sizeBytes === expected.size_bytes
      ? ''
      : `; ${sizeBytes} bytes where the manifest says ${expected.size_bytes}${sizeBytes < expected.size_bytes ? ' (truncated)' : ''}`;
  throw new IntegrityError(
    `${basename(backup.dumpPath)} does not match its manifest (sha256 mismatch${size}): it is corrupted or incomplete`,
  );
}
