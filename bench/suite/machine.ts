/**
 * Everything the suite's figures depend on besides the code: the machine (CPU, cores, memory, free
 * disk, load), the database server (version, PostGIS, the settings that move the figures), and the
 * code itself (git commit, and whether the working tree had changes). Figures without these mean
 * little; with them, two runs can be compared or told apart.
 */
import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { type MachineInfo, machineInfo } from '../lib/results.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

export type SuiteEnvironment = {
  machine: MachineInfo & { loadAverage: number[]; tmpFreeGiB: number };
  database: {
    postgres: string | null;
    postgis: string | null;
    settings: Record<string, string>;
  };
  git: { commit: string | null; branch: string | null; dirty: boolean | null };
};

/** The server settings that move these figures most (WAL, checkpoints, memory, planner). */
const SETTINGS = [
  'shared_buffers',
  'work_mem',
  'maintenance_work_mem',
  'effective_cache_size',
  'max_wal_size',
  'synchronous_commit',
  'fsync',
  'wal_level',
  'jit',
  'max_parallel_workers_per_gather',
  'random_page_cost',
];

async function git(args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run('git', args, { cwd: repoRoot, timeout: 10_000 });
    return stdout.trim();
  } catch {
    return null;
  }
}

/** Read once, at the start of a run. The database part never throws: a field it cannot read is null. */
export async function suiteEnvironment(adminUrl: string): Promise<SuiteEnvironment> {
  const free = await statfs(tmpdir()).catch(() => null);
  const [commit, branch, status] = await Promise.all([
    git(['rev-parse', 'HEAD']),
    git(['rev-parse', '--abbrev-ref', 'HEAD']),
    git(['status', '--porcelain']),
  ]);
  const database: SuiteEnvironment['database'] = { postgres: null, postgis: null, settings: {} };
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [versions] = await sql<{ postgres: string; postgis: string | null }[]>`
      SELECT current_setting('server_version') AS postgres,
             (SELECT default_version FROM pg_available_extensions WHERE name = 'postgis') AS postgis`;
    database.postgres = versions?.postgres ?? null;
    database.postgis = versions?.postgis ?? null;
    const settings = await sql<{ name: string; setting: string }[]>`
      SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ${sql(SETTINGS)}`;
    database.settings = Object.fromEntries(settings.map((s) => [s.name, s.setting]));
  } catch (error) {
    console.error(`[bench] could not read the server's version and settings: ${error}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  return {
    machine: {
      ...machineInfo(),
      loadAverage: loadavg(),
      tmpFreeGiB: free ? (free.bavail * free.bsize) / 2 ** 30 : Number.NaN,
    },
    database,
    git: { commit, branch, dirty: status === null ? null : status.length > 0 },
  };
}
