/**
 * What every benchmark script shares on its command line: the usage error and its exit code, the
 * parsing of whole numbers and lists (scripts/lib/cli-options.ts), the admin URL, where results
 * go, and how `main` ends.
 */
import { writeFile } from 'node:fs/promises';
import { UsageError } from '../../scripts/lib/cli-options.js';
import { writeResults } from './results.js';

export { choices, UsageError, wholeNumber } from '../../scripts/lib/cli-options.js';

/** A role that may CREATE DATABASE on a server with PostGIS (`BENCH_DATABASE_ADMIN_URL`). */
export const benchAdminUrl = (): string =>
  process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

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
