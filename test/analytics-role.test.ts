import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QUESTIONS } from '../origin/analytics/questions.js';
import { refreshAnalytics } from '../origin/analytics/refresh.js';
import { SMALL_FEED_HEADER, smallFeed } from '../origin/analytics/test-data.js';
import { type Database, openDatabase } from '../origin/db/database.js';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { runSource } from '../origin/etl/run.js';
import { upsertSource } from '../origin/etl/sources.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { fixture } from './support/etl.js';
import { adminUrl } from './support/urls.js';

/**
 * The analysts' role, made by the real scripts/db-roles.sql (run with psql, as an operator runs
 * it) on a real PostgreSQL, then used the way Metabase uses it.
 *
 * Roles belong to the whole server, not to a database, so this test never touches the real
 * estate_owner / estate_app / estate_analytics (a developer's server may use them, and another
 * test run may be creating them right now): it runs the script and the migration with every role
 * name replaced by one unique to this run, and drops those roles at the end.
 */

const execFileAsync = promisify(execFile);
const unique = `${inject('databasePrefix')}${randomBytes(3).toString('hex')}`;
const ROLES = {
  estate_owner: `${unique}_owner`,
  estate_app: `${unique}_app`,
  estate_analytics: `${unique}_analytics`,
} as const;
const PASSWORDS = {
  owner: randomBytes(12).toString('hex'),
  app: randomBytes(12).toString('hex'),
  analytics: randomBytes(12).toString('hex'),
};
const FIXED_NAMES = /\bestate_(owner|app|analytics)\b/g;

/** The SQL with this run's role names; fails loudly if a fixed name would slip through. */
function withTestRoles(text: string): string {
  const renamed = text.replace(FIXED_NAMES, (name) => ROLES[name as keyof typeof ROLES]);
  expect(renamed).not.toMatch(FIXED_NAMES);
  return renamed;
}

function urlAs(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

let t: TestDatabase;
let admin: postgres.Sql;
let analyst: postgres.Sql;
let owner: postgres.Sql;
let app: Database;
let relations: string[];

beforeAll(async () => {
  t = await createTestDatabase();
  // Rows in every view, loaded the production way.
  const feed = fixture(
    [
      SMALL_FEED_HEADER,
      'A,S,Residential,500000,2000,2024-01-10,2024-03-05,,47.61,-122.33',
      'B,A,Condominium,300000,1000,2024-02-01,,,47.62,-122.32',
    ].join('\n'),
  );
  await upsertSource(t.db, smallFeed('role-feed', feed));
  await runSource(t.db, 'role-feed');
  await t.db.rows(
    sql`
      INSERT INTO areas (slug, name, kind, geom) VALUES ('downtown', 'Downtown', 'hood',
        ST_Multi(ST_MakeEnvelope(-122.4, 47.55, -122.25, 47.7, 4326)))`,
  );
  await refreshAnalytics(t.db);

  const script = join(projectRoot, 'scripts/db-roles.sql');
  const renamed = fixture(withTestRoles(readFileSync(script, 'utf8')), 'sql');
  // Exactly as the script's header says to run it, plus ON_ERROR_STOP so a failing statement
  // fails the test instead of scrolling by.
  await execFileAsync(
    'psql',
    [
      t.url,
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-v',
      `owner_password='${PASSWORDS.owner}'`,
      '-v',
      `app_password='${PASSWORDS.app}'`,
      '-v',
      `analytics_password='${PASSWORDS.analytics}'`,
      '-f',
      renamed,
    ],
    { timeout: 30_000 },
  );
  admin = postgres(t.url, { max: 1, onnotice: () => {} });
  // One connection each, so a SET lasts for the following statements.
  analyst = postgres(urlAs(t.url, ROLES.estate_analytics, PASSWORDS.analytics), {
    max: 1,
    onnotice: () => {},
  });
  owner = postgres(urlAs(t.url, ROLES.estate_owner, PASSWORDS.owner), {
    max: 1,
    onnotice: () => {},
  });
  app = await openDatabase({
    url: urlAs(t.url, ROLES.estate_app, PASSWORDS.app),
    dataDir: '',
    poolMax: 1,
  });
  const rows = await admin<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'analytics' AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY c.relname`;
  relations = rows.map((r) => r.name);
}, 120_000);

afterAll(async () => {
  await Promise.all([analyst?.end(), owner?.end(), app?.close(), admin?.end()]);
  await t.drop();
  const cleanup = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    for (const role of Object.values(ROLES)) await cleanup.unsafe(`DROP ROLE IF EXISTS "${role}"`);
  } finally {
    await cleanup.end();
  }
});

/** The SQLSTATE a statement fails with (it must fail). */
async function failure(client: postgres.Sql, statement: string): Promise<string> {
  const error = await client.unsafe(statement).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  );
  expect(error, `expected "${statement}" to fail`).toBeDefined();
  return String(error?.code);
}

describe('the estate_analytics role', () => {
  it('reads every view and materialized view of the analytics schema', async () => {
    expect(relations).toEqual(
      expect.arrayContaining([
        'etl_run_history',
        'inventory_by_area_month',
        'inventory_monthly',
        'listings',
        'market_by_area_month',
        'market_monthly',
        'price_per_sqft_by_area_type',
      ]),
    );
    for (const relation of relations) {
      const rows = await analyst.unsafe(`SELECT * FROM analytics."${relation}" LIMIT 5`);
      expect(rows.length, `rows of analytics.${relation}`).toBeGreaterThan(0);
    }
  });

  it('runs the SQL of every dashboard question', async () => {
    for (const q of QUESTIONS) {
      const rows = await analyst.unsafe(q.sql);
      expect(Array.isArray(rows), q.name).toBe(true);
    }
  });

  it('cannot read users, api_keys, audit_log, refresh_tokens or any other table of public', async () => {
    const tables = await admin<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        -- PostGIS grants its EPSG reference table to PUBLIC: coordinate systems, no data of ours.
        AND c.relname <> 'spatial_ref_sys'
      ORDER BY c.relname`;
    const names = tables.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining(['users', 'api_keys', 'audit_log', 'refresh_tokens', 'listings']),
    );
    for (const name of names)
      expect(await failure(analyst, `SELECT * FROM public."${name}" LIMIT 1`), name).toBe('42501');
    expect(await failure(analyst, 'SELECT * FROM drizzle.__drizzle_migrations')).toBe('42501');
  });

  it('writes nothing anywhere, even with its read-only default turned off', async () => {
    await analyst`SET default_transaction_read_only = off`;
    try {
      const denied = [
        "INSERT INTO public.listings (source_id, source_key, standard_status) VALUES (1, 'x', 'Active')",
        "UPDATE public.users SET email = 'x@example.com'",
        'DELETE FROM public.api_keys',
        'DELETE FROM public.audit_log',
        "INSERT INTO analytics.market_monthly (month) VALUES ('2020-01-01')",
        'UPDATE analytics.inventory_monthly SET active_listings = 0',
        'DELETE FROM analytics.price_per_sqft_by_area_type',
        'CREATE TABLE analytics.scratch (a int)',
        'CREATE VIEW analytics.scratch AS SELECT 1 AS one',
        'CREATE TABLE public.scratch (a int)',
        'REFRESH MATERIALIZED VIEW analytics.market_monthly',
        'REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.market_by_area_month',
        'SELECT * FROM refresh_analytics_views()',
      ];
      for (const statement of denied)
        expect(await failure(analyst, statement), statement).toBe('42501');
      // Views over several tables cannot take writes at all, whoever asks.
      expect(await failure(analyst, 'DELETE FROM analytics.etl_run_history')).toBe('55000');
      expect(await failure(analyst, 'DELETE FROM analytics.listings')).toBe('55000');
    } finally {
      await analyst`SET default_transaction_read_only = on`;
    }
  });

  it('starts every session read-only, with a statement timeout', async () => {
    const [settings] = await analyst<{ read_only: string; timeout: string }[]>`
      SELECT current_setting('default_transaction_read_only') AS read_only,
             current_setting('statement_timeout') AS timeout`;
    expect(settings).toEqual({ read_only: 'on', timeout: '5min' });
    // Not even a temporary table.
    expect(await failure(analyst, 'CREATE TEMP TABLE scratch (a int)')).toBe('25006');
  });

  it('keeps reading views the schema owner adds later (default privileges)', async () => {
    await owner`CREATE VIEW analytics.added_later AS SELECT 42 AS answer`;
    try {
      expect(await analyst`SELECT answer FROM analytics.added_later`).toEqual([{ answer: 42 }]);
    } finally {
      await owner`DROP VIEW analytics.added_later`;
    }
  });
});

describe('the estate_app role', () => {
  it('refreshes the materialized views it does not own, through refresh_analytics_views()', async () => {
    const views = await refreshAnalytics(app);
    expect(views.map((v) => v.view)).toContain('market_monthly');
    for (const v of views) expect(v.concurrently).toBe(true);
  });

  it('cannot read the analytics schema itself', async () => {
    const error = await app
      .rows(sql`SELECT * FROM analytics.market_monthly`)
      .catch((e: { cause?: { code?: string } }) => e);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('42501');
  });
});

describe('migration 0005 when the roles already exist', () => {
  it('gives the same rights as the script', async () => {
    // Take back what the script gave, then replay the migration's grant statement.
    await admin.unsafe(`
      REVOKE ALL ON ALL TABLES IN SCHEMA analytics FROM "${ROLES.estate_analytics}";
      REVOKE USAGE ON SCHEMA analytics FROM "${ROLES.estate_analytics}";
      REVOKE EXECUTE ON FUNCTION refresh_analytics_views() FROM "${ROLES.estate_app}"`);
    expect(await failure(analyst, 'SELECT * FROM analytics.market_monthly')).toBe('42501');
    await expect(refreshAnalytics(app)).rejects.toThrow();

    const migration = readFileSync(join(projectRoot, 'migrations/0005_analytics.sql'), 'utf8');
    const grants = migration
      .split('--> statement-breakpoint')
      .filter((statement) => statement.includes("rolname = 'estate_analytics'"));
    expect(grants).toHaveLength(1);
    await admin.unsafe(withTestRoles(grants[0] as string));

    for (const relation of relations)
      await expect(
        analyst.unsafe(`SELECT 1 FROM analytics."${relation}" LIMIT 1`),
      ).resolves.toBeDefined();
    expect((await refreshAnalytics(app)).length).toBeGreaterThan(0);
    // Its default privileges cover views created later by the role that migrates (here: admin).
    await admin`CREATE VIEW analytics.added_by_migration AS SELECT 7 AS seven`;
    try {
      expect(await analyst`SELECT seven FROM analytics.added_by_migration`).toEqual([{ seven: 7 }]);
    } finally {
      await admin`DROP VIEW analytics.added_by_migration`;
    }
  });
});
