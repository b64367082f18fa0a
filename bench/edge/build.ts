/**
 * The edge benchmark's Worker bundles, built the way a deploy builds them
 * (`wrangler deploy --dry-run --outdir`): the real Worker (edge/index.ts, wrangler.toml), the bare
 * Hono Worker that is its limit (bench/edge/bare-worker.ts) and the cache stand-in
 * (bench/edge/cache-worker.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { unstable_readConfig } from 'wrangler';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const wranglerBin = join(repoRoot, 'node_modules/.bin/wrangler');

export type WorkerBundle = {
  /** The entry module's file. */
  scriptPath: string;
  /** Its folder: module names are relative to it. */
  modulesRoot: string;
};

/** The top-level environment of wrangler.toml, as wrangler reads it. */
export type WranglerConfig = {
  compatibilityDate: string;
  vars: Record<string, unknown>;
};

/** `entry`: the bundle's file name, the entry's own with `.js` (wrangler keeps the name). */
async function wranglerDryRun(
  outdir: string,
  entry: string,
  args: string[],
): Promise<WorkerBundle> {
  await promisify(execFile)(wranglerBin, ['deploy', '--dry-run', '--outdir', outdir, ...args], {
    cwd: repoRoot,
    timeout: 120_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  return { scriptPath: join(outdir, entry), modulesRoot: outdir };
}

/** edge/index.ts as deployed, top-level environment (`--env=""`, as test/support/edge-worker.ts). */
export function buildRealWorker(outdir: string): Promise<WorkerBundle> {
  return wranglerDryRun(outdir, 'index.js', ['--env=']);
}

/**
 * edge/index.ts built with `keep_names = false`: wrangler's default (true) makes esbuild wrap every
 * function in `__name(fn, "name")`, which runs again each time a closure is created, per request.
 * The config names only what the real one sets for the build (main, compatibility date); the vars
 * come from the benchmark anyway.
 */
export async function buildRealWorkerWithoutKeepNames(
  outdir: string,
  compatibilityDate: string,
): Promise<WorkerBundle> {
  const configDir = join(outdir, 'config');
  await mkdir(configDir, { recursive: true });
  const config = join(configDir, 'wrangler.toml');
  await writeFile(
    config,
    [
      'name = "estate-edge-bench-no-keep-names"',
      `main = ${JSON.stringify(join(repoRoot, 'edge/index.ts'))}`,
      `compatibility_date = "${compatibilityDate}"`,
      'keep_names = false',
      '',
    ].join('\n'),
  );
  return wranglerDryRun(join(outdir, 'bundle'), 'index.js', ['--config', config]);
}

/**
 * A Worker of the benchmark's own (`bench/edge/bare-worker.ts`, `bench/edge/cache-worker.ts`),
 * with a wrangler.toml of its own (in `outdir`) that names nothing but the entry and the
 * compatibility date: no vars, no bindings, nothing of the real Worker's.
 */
export async function buildBenchWorker(
  outdir: string,
  entry: 'bare-worker' | 'cache-worker',
  compatibilityDate: string,
): Promise<WorkerBundle> {
  const configDir = join(outdir, 'config');
  await mkdir(configDir, { recursive: true });
  const config = join(configDir, 'wrangler.toml');
  await writeFile(
    config,
    [
      `name = "estate-edge-bench-${entry}"`,
      `main = ${JSON.stringify(join(repoRoot, `bench/edge/${entry}.ts`))}`,
      `compatibility_date = "${compatibilityDate}"`,
      '',
    ].join('\n'),
  );
  return wranglerDryRun(join(outdir, 'bundle'), `${entry}.js`, ['--config', config]);
}

/** wrangler.toml's compatibility date and top-level vars (TOML tables arrive as objects). */
export function readWranglerConfig(): WranglerConfig {
  const config = unstable_readConfig({ config: join(repoRoot, 'wrangler.toml') });
  if (!config.compatibility_date) throw new Error('wrangler.toml has no compatibility_date');
  return { compatibilityDate: config.compatibility_date, vars: { ...config.vars } };
}

/**
 * The commit and the uncommitted edge files the bundles were built from: figures describe a
 * working tree, and others may be editing edge/ while the benchmark runs.
 */
export function sourceState(): { commit: string; uncommitted: string[] } {
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
  try {
    return {
      commit: git(['rev-parse', 'HEAD']),
      uncommitted: git(['status', '--porcelain', '--', 'edge', 'wrangler.toml'])
        .split('\n')
        .filter(Boolean),
    };
  } catch {
    return { commit: 'unknown (not a git checkout)', uncommitted: [] };
  }
}
