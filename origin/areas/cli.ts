/**
 * The operator's area command.
 *
 *   npm run areas -- load <file.geojson> --kind zip [--name-property ZCTA5CE10] [--slug-property GEOID10] [--replace]
 *   npm run areas -- derive-zips [--min-listings 5] [--buffer 150]
 *   npm run areas -- list [--kind zip]
 *
 * `load` takes files up to 50 MB (the HTTP endpoint stops at 1 MiB) and is all-or-nothing: a
 * file with any bad feature stores nothing and every bad feature is printed.
 * `derive-zips` draws APPROXIMATE ZIP areas from the listings' own points (kind `zip-derived`),
 * for an install with no official outlines (no internet): see derive.ts for what that means.
 *
 * Exit code: 0 on success, 1 when the load was refused or failed, 2 on usage.
 */
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { logRefreshFailure, refreshAnalytics } from '../analytics/refresh.js';
import { openFromEnv } from '../bootstrap.js';
import { parseEnv } from '../env.js';
import { createLogger } from '../logger.js';
import { deriveZipAreas } from './derive.js';
import { MAX_FILE_BYTES } from './geojson.js';
import { AreaValidationError, loadAreasFromGeoJSON } from './load.js';
import { listAreas } from './queries.js';

const usage = [
  'usage: npm run areas -- load <file.geojson> --kind <kind> [--name-property <p>] [--slug-property <p>] [--replace]',
  '       npm run areas -- derive-zips [--min-listings <n>] [--buffer <metres>]',
  '       npm run areas -- list [--kind <kind>]',
].join('\n');

class UsageError extends Error {}

function wholeNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

function parseOptions() {
  return parseArgs({
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      'name-property': { type: 'string' },
      'slug-property': { type: 'string' },
      replace: { type: 'boolean' },
      'min-listings': { type: 'string' },
      buffer: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

async function main(): Promise<number> {
  // parseArgs throws a TypeError on an unknown flag: a usage error (exit 2), not a failure.
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, file] = positionals;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (command !== 'load' && command !== 'derive-zips' && command !== 'list')
    throw new UsageError('');
  if (command === 'load' && (!file || !values.kind))
    throw new UsageError('load needs a file and --kind');

  // Read and parse the file before opening the database: a bad file should not cost a connection.
  let document: unknown;
  if (command === 'load' && file) {
    const size = (await stat(file)).size;
    if (size > MAX_FILE_BYTES) {
      console.error(
        `areas: ${file} is ${(size / 1e6).toFixed(1)} MB; the limit is ${MAX_FILE_BYTES / 1024 / 1024} MB (simplify it, e.g. mapshaper -simplify 10%)`,
      );
      return 1;
    }
    try {
      document = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      console.error(`areas: ${file} is not JSON: ${(error as Error).message}`);
      return 1;
    }
  }

  const env = parseEnv();
  const db = await openFromEnv(env, createLogger(process.env.LOG_LEVEL ?? 'warn'));
  try {
    if (command === 'load') {
      const result = await loadAreasFromGeoJSON(db, document, {
        kind: values.kind as string,
        nameProperty: values['name-property'],
        slugProperty: values['slug-property'],
        replace: values.replace,
      });
      await refreshAnalytics(db).catch(logRefreshFailure);
      console.log(
        `loaded ${result.ids.length} area(s) of kind '${values.kind}'` +
          (result.repaired.length
            ? `, ${result.repaired.length} repaired (features ${result.repaired.slice(0, 20).join(', ')})`
            : '') +
          (result.deleted ? `, ${result.deleted} old one(s) deleted` : ''),
      );
      return 0;
    }
    if (command === 'derive-zips') {
      const result = await deriveZipAreas(db, {
        minListings: wholeNumber(values['min-listings'], 'min-listings', 5),
        bufferMetres: wholeNumber(values.buffer, 'buffer', 150),
      });
      await refreshAnalytics(db).catch(logRefreshFailure);
      console.log(
        `derived ${result.areas} APPROXIMATE ZIP area(s) from the listings (kind 'zip-derived')` +
          (result.deleted ? `, ${result.deleted} stale one(s) deleted` : ''),
      );
      for (const s of result.skipped.slice(0, 20))
        console.log(`  skipped ${s.postalCode} (${s.listings} listings): ${s.reason}`);
      if (result.skipped.length > 20)
        console.log(`  … and ${result.skipped.length - 20} more skipped`);
      return 0;
    }
    const page = await listAreas(db, { kind: values.kind, limit: 500 });
    console.table(page.items.map(({ bbox: _bbox, ...rest }) => rest));
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error & { code?: string }) => {
    if (error instanceof UsageError) {
      if (error.message) console.error(`areas: ${error.message}`);
      console.error(usage);
      process.exitCode = 2;
      return;
    }
    if (error instanceof AreaValidationError) {
      console.error(`areas: ${error.problems.length} bad feature(s); nothing was stored:`);
      for (const p of error.problems.slice(0, 100))
        console.error(`  feature #${p.index}: ${p.reason}`);
      if (error.problems.length > 100) console.error(`  … and ${error.problems.length - 100} more`);
    } else {
      console.error(`areas: ${error.message}`);
    }
    process.exitCode = error.code === 'ENV_INVALID' ? 2 : 1;
  },
);
