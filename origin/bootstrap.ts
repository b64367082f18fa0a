import { count, sql } from 'drizzle-orm';
import { logRefreshFailure, refreshAnalytics } from './analytics/refresh.js';
import { deriveZipAreas } from './areas/derive.js';
import { type Database, openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import { listings } from './db/schema/index.js';
import type { OriginEnv } from './env.js';
import { projectRoot } from './etl/fetch-input.js';
import { type RunSummary, runSource } from './etl/run.js';
import { type SourceInput, sourceSchema } from './etl/source-config.js';
import { upsertSource } from './etl/sources.js';
import type { Logger } from './logger.js';

/** The sources this project ships (the King County sample). */
export const declaredSourcesFile = `${projectRoot}origin/etl/sources.json`;
export const SAMPLE_SOURCE = 'king-county';

/** Open the database named by the environment and bring its schema up to date if allowed. */
export async function openFromEnv(env: OriginEnv, logger: Logger): Promise<Database> {
  const db = await openDatabase({
    url: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    poolMax: env.DATABASE_POOL_MAX,
  });
  logger.info(
    { driver: db.driver, ...(db.driver === 'pglite' ? { dataDir: env.DATA_DIR } : {}) },
    db.driver === 'pglite'
      ? 'using the embedded PGlite database (set DATABASE_URL for PostgreSQL)'
      : 'connected to PostgreSQL',
  );
  if (env.MIGRATE_ON_START) {
    const t = performance.now();
    await migrate(db);
    logger.info({ ms: Math.round(performance.now() - t) }, 'migrations applied');
  }
  return db;
}

/**
 * Declare the shipped sources that the database does not have yet. Sources already there are
 * left alone: an operator may have edited them, and the file must not undo that.
 */
export async function declareShippedSources(db: Database): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const declared = sourceSchema
    .array()
    .parse(JSON.parse(await readFile(declaredSourcesFile, 'utf8')));
  const existing = new Set(
    (await db.rows<{ name: string }>(sql`SELECT name FROM etl_sources`)).map((r) => r.name),
  );
  const added: string[] = [];
  for (const source of declared) {
    if (existing.has(source.name)) continue;
    await upsertSource(db, source as SourceInput);
    added.push(source.name);
  }
  return added;
}

/** Load the sample feed when there are no listings at all (a fresh install). */
export async function seedIfEmpty(db: Database, logger: Logger): Promise<RunSummary | undefined> {
  await declareShippedSources(db);
  const [row] = await db.orm.select({ n: count() }).from(listings);
  if ((row?.n ?? 0) > 0) return undefined;
  logger.info({ source: SAMPLE_SOURCE }, 'no listings yet: loading the King County sample');
  const summary = await runSource(db, SAMPLE_SOURCE, { trigger: 'seed' });
  logger.info(summary, 'sample loaded');
  // No boundary files ship (and there is no internet to fetch them): approximate ZIP areas drawn
  // around the sample's listings give stats by area and the viewer something to group by.
  const [areas] = await db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM areas`);
  if ((areas?.n ?? 0) === 0) {
    const derived = await deriveZipAreas(db);
    logger.info(derived, 'approximate ZIP areas derived from the sample');
    // The analysts' per-area views were refreshed by the run, before these areas existed.
    await refreshAnalytics(db).catch(logRefreshFailure);
  }
  return summary;
}
