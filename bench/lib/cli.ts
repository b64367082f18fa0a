/**
 * What every benchmark script shares on its command line: the usage error and its exit code, the
 * parsing of whole numbers and lists, the admin URL, where results go, and how `main` ends.
 */
import { writeFile } from 'node:fs/promises';
import { writeResults } from './results.js';

/** A bad argument: reported as one line and the usage, exit code 2 (as `npm run etl` does). */
export class UsageError extends Error {
  readonly code = 'USAGE';
}

/** A role that may CREATE DATABASE on a server with PostGIS (`BENCH_DATABASE_ADMIN_URL`). */
export const benchAdminUrl = (): string =>
  process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * A whole-number option (`1_000_000` allowed), `fallback` when absent or empty.
 *
 * @example
 *   const runs = wholeNumber('--runs', values.runs, 3);
 */
export function wholeNumber(
  name: string,
  text: string | undefined,
  fallback: number,
  min = 1,
): number {
  if (text === undefined || text === '') return fallback;
  // Digits only (and _ between them): Number() alone would take '0x10', '1e3' and ' '.
  const value = /^\d+(_\d+)*$/.test(text) ? Number(text.replaceAll('_', '')) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min)
    throw new UsageError(`${name} must be a whole number ≥ ${min}`);
  return value;
}

/**
 * A comma-separated choice among `known`, returned in `known`'s order whatever the order asked;
 * `fallback` when absent.
 *
 * @example
 *   const parts = choices('--parts', values.parts, PARTS, PARTS);
 */
export function choices<T extends string>(
  name: string,
  text: string | undefined,
  known: readonly T[],
  fallback: readonly T[],
): T[] {
  const asked = text === undefined ? [...fallback] : text.split(',').map((s) => s.trim());
  const unknown = asked.filter((a) => !(known as readonly string[]).includes(a));
  if (unknown.length > 0)
    throw new UsageError(`${name}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return known.filter((k) => asked.includes(k));
}

/**
 * Writes a run's results to `jsonOut` when the suite asked for a path, else to
 * bench/results/<name>-<time>.json; returns where.
 */
export async function saveResults(
  name: string,
  data: unknown,
  jsonOut: string | undefined,
): Promise<string> {
  if (!jsonOut) return writeResults(name, data);
  await writeFile(jsonOut, `${JSON.stringify(data, null, 2)}\n`);
  return jsonOut;
}

/**
 * Runs a script's `main` and turns its end into an exit code: `--help` prints `usage` (0), a
 * UsageError or an option parseArgs refuses prints the message and `usage` (2), an error whose `code` is `INTERRUPTED` is Ctrl-C after the cleanup (130), anything
 * else prints its stack (1).
 *
 * @example
 *   runMain(main, 'npm run bench:etl -- [--rows N] [--runs K] [--json-out PATH]');
 */
export function runMain(main: () => Promise<void>, usage: string): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`usage: ${usage}\nSee docs/benchmarks.md.`);
    return;
  }
  main().catch((error: unknown) => {
    const code = (error as { code?: unknown } | null)?.code;
    // node:util parseArgs' own refusals (an unknown option, a missing value) are usage errors too.
    if (
      error instanceof UsageError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      console.error(`${(error as Error).message}\nusage: ${usage}`);
      process.exitCode = 2;
      return;
    }
    if (code === 'INTERRUPTED') {
      process.exitCode = 130;
      return;
    }
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  });
}
