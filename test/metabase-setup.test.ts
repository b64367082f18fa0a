import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetabaseClient, MetabaseError } from '../origin/analytics/metabase/client.js';
import { MetabaseConfigError, parseMetabaseEnv } from '../origin/analytics/metabase/config.js';
import { type ProvisionConfig, provisionMetabase } from '../origin/analytics/metabase/provision.js';
import { dashboardLayout, MARKET_OVERVIEW, QUESTIONS } from '../origin/analytics/questions.js';
import { projectRoot } from '../origin/etl/fetch-input.js';
import { type Call, type Dashcard, FakeMetabase, type Json } from './support/fake-metabase.js';

/**
 * scripts/metabase-setup.ts against a stand-in for Metabase (test/support/fake-metabase.ts):
 * the calls, their order and their payloads.
 */

const ADMIN_PASSWORD = 'correct-horse-battery-staple-42';
const DB_PASSWORD = 'analytics-secret-7f3a9c';

function config(overrides: Partial<ProvisionConfig> = {}): ProvisionConfig {
  return {
    siteName: 'estate-edge test',
    admin: { email: 'analyst-admin@example.com', password: ADMIN_PASSWORD },
    database: {
      name: 'estate-edge analytics',
      host: 'postgres',
      port: 5432,
      dbname: 'estate',
      user: 'estate_analytics',
      password: DB_PASSWORD,
      ssl: false,
    },
    ...overrides,
  };
}

let metabase: FakeMetabase;
const clientFor = (url = metabase.url) =>
  new MetabaseClient({ url, secrets: [ADMIN_PASSWORD, DB_PASSWORD], timeoutMs: 5_000 });

beforeEach(async () => {
  metabase = new FakeMetabase();
  await metabase.start();
});
afterEach(async () => {
  await metabase.stop();
});

describe('provisioning a fresh Metabase', () => {
  it('makes the documented calls, in order, with the documented payloads', async () => {
    const report = await provisionMetabase(clientFor(), config());
    const n = QUESTIONS.length;
    const dashboardId = report.dashboard.id;
    expect(metabase.log).toEqual([
      'GET /api/health',
      'GET /api/session/properties',
      'POST /api/setup',
      'GET /api/database',
      'POST /api/database',
      'GET /api/card?f=all',
      ...Array.from({ length: n }, () => 'POST /api/card'),
      `GET /api/search?models=dashboard&q=${encodeURIComponent(MARKET_OVERVIEW.name)}`,
      'POST /api/dashboard',
      `GET /api/dashboard/${dashboardId}`,
      `PUT /api/dashboard/${dashboardId}`,
    ]);
    const [, , setup, , addDb, , ...rest] = metabase.calls;
    expect(setup?.body).toEqual({
      token: metabase.setupToken,
      user: {
        email: 'analyst-admin@example.com',
        password: ADMIN_PASSWORD,
        first_name: 'estate-edge',
        last_name: 'Admin',
        site_name: 'estate-edge test',
      },
      prefs: { site_name: 'estate-edge test', site_locale: 'en', allow_tracking: false },
    });
    // Every call after the setup carries the session the setup returned.
    const session = [...metabase.sessions][0];
    for (const call of metabase.calls.slice(3)) expect(call.session).toBe(session);
    expect(addDb?.body).toMatchObject({
      name: 'estate-edge analytics',
      engine: 'postgres',
      details: {
        host: 'postgres',
        port: 5432,
        dbname: 'estate',
        user: 'estate_analytics',
        password: DB_PASSWORD,
        ssl: false,
        'schema-filters-type': 'inclusion',
        'schema-filters-patterns': 'analytics',
      },
    });
    const databaseId = report.database.id;
    const cardCalls = rest.slice(0, n);
    cardCalls.forEach((call, i) => {
      const q = QUESTIONS[i];
      expect(call.body).toEqual({
        name: q?.name,
        type: 'question',
        description: q?.description,
        display: q?.display,
        dataset_query: {
          type: 'native',
          native: { query: q?.sql, 'template-tags': {} },
          database: databaseId,
        },
        visualization_settings: q?.visualizationSettings,
      });
    });
    expect(rest[n + 1]?.body).toEqual({
      name: MARKET_OVERVIEW.name,
      description: MARKET_OVERVIEW.description,
    });
    const put = rest.at(-1)?.body as { dashcards: Dashcard[] };
    const layout = dashboardLayout(QUESTIONS);
    expect(put.dashcards).toEqual(
      report.questions.map((q, i) => ({
        id: -(i + 1),
        card_id: q.id,
        row: layout[i]?.row,
        col: layout[i]?.col,
        size_x: layout[i]?.width,
        size_y: layout[i]?.height,
        parameter_mappings: [],
        visualization_settings: {},
      })),
    );
    expect(report).toMatchObject({
      admin: 'created',
      database: { action: 'created' },
      dashboard: { action: 'created', cardsAdded: n },
    });
    expect(report.questions.every((q) => q.action === 'created')).toBe(true);
    expect(metabase.dashboards[0]?.dashcards).toHaveLength(n);
  });

  it('creates nothing the second time: it logs in and finds everything by name', async () => {
    const first = await provisionMetabase(clientFor(), config());
    const before = metabase.calls.length;
    const state = JSON.stringify([metabase.databases, metabase.cards, metabase.dashboards]);
    const second = await provisionMetabase(clientFor(), config());
    const calls = metabase.calls.slice(before);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /api/health',
      'GET /api/session/properties',
      'POST /api/session',
      'GET /api/database',
      'GET /api/card?f=all',
      `GET /api/search?models=dashboard&q=${encodeURIComponent(MARKET_OVERVIEW.name)}`,
      `GET /api/dashboard/${first.dashboard.id}`,
    ]);
    expect(calls[2]?.body).toEqual({
      username: 'analyst-admin@example.com',
      password: ADMIN_PASSWORD,
    });
    expect(JSON.stringify([metabase.databases, metabase.cards, metabase.dashboards])).toBe(state);
    expect(second).toEqual({
      admin: 'existing',
      database: { id: first.database.id, action: 'unchanged' },
      questions: first.questions.map((q) => ({ ...q, action: 'unchanged' })),
      dashboard: { id: first.dashboard.id, action: 'existing', cardsAdded: 0 },
    });
  });

  it('corrects what drifted and keeps what the analyst added', async () => {
    const first = await provisionMetabase(clientFor(), config());
    const board = metabase.dashboards[0] as (typeof metabase.dashboards)[number];
    const [edited, removed] = first.questions;
    // An edited question, a card taken off the dashboard, a card the analyst added, a moved host.
    const card = metabase.cards.find((c) => c.id === edited?.id) as Json;
    card.dataset_query = {
      type: 'native',
      native: { query: 'SELECT 1' },
      database: first.database.id,
    };
    board.dashcards = board.dashcards.filter((d) => d.card_id !== removed?.id);
    board.dashcards.push({
      id: 9_999,
      card_id: null,
      row: 0,
      col: 0,
      size_x: 4,
      size_y: 2,
      visualization_settings: { text: 'note' },
    });
    ((metabase.databases[0] as Json).details as Json).host = 'old-host';
    const there = board.dashcards.map((d) => d.id);
    const before = metabase.calls.length;

    const report = await provisionMetabase(clientFor(), config());
    const writes = metabase.calls.slice(before).filter((c) => c.method !== 'GET');
    expect(writes.map((c) => `${c.method} ${c.path}`)).toEqual([
      'POST /api/session',
      `PUT /api/database/${first.database.id}`,
      `PUT /api/card/${edited?.id}`,
      `PUT /api/dashboard/${first.dashboard.id}`,
    ]);
    expect(((writes[2] as Call).body as Json).dataset_query).toEqual({
      type: 'native',
      native: { query: QUESTIONS[0]?.sql, 'template-tags': {} },
      database: first.database.id,
    });
    expect(((metabase.databases[0] as Json).details as Json).host).toBe('postgres');
    const sent = ((writes[3] as Call).body as { dashcards: Dashcard[] }).dashcards;
    // Everything that was there goes back unchanged; the missing card comes back, below it.
    expect(sent.filter((d) => d.id > 0).map((d) => d.id)).toEqual(there);
    expect(sent.find((d) => d.id === 9_999)).toMatchObject({
      visualization_settings: { text: 'note' },
    });
    const added = sent.filter((d) => d.id < 0);
    expect(added).toEqual([expect.objectContaining({ id: -1, card_id: removed?.id })]);
    const bottom = Math.max(
      ...sent.filter((d) => d.id > 0).map((d) => (d.row as number) + (d.size_y as number)),
    );
    expect(added[0]?.row).toBe(bottom);
    expect(report.questions.map((q) => q.action)).toEqual(
      QUESTIONS.map((_, i) => (i === 0 ? 'updated' : 'unchanged')),
    );
    expect(report.database.action).toBe('updated');
    expect(report.dashboard.cardsAdded).toBe(1);
  });

  it('waits for a Metabase that is still starting, within the time it is given', async () => {
    metabase.startingUp = 2;
    const report = await provisionMetabase(clientFor(), config({ waitMs: 10_000 }));
    expect(report.admin).toBe('created');
    expect(metabase.log.slice(0, 4)).toEqual([
      'GET /api/health',
      'GET /api/health',
      'GET /api/health',
      'GET /api/session/properties',
    ]);
  });
});

/** The MetabaseError a provisioning must fail with. */
async function failureOf(run: Promise<unknown>): Promise<MetabaseError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MetabaseError);
  return error as MetabaseError;
}

describe('a failing step', () => {
  it('says which step failed, with Metabase status and message, and stops there', async () => {
    metabase.failure = {
      method: 'POST',
      path: /^\/api\/database$/,
      status: 500,
      body: JSON.stringify({ message: 'Connection to postgres:5432 refused.' }),
    };
    const error = await failureOf(provisionMetabase(clientFor(), config()));
    expect(error).toMatchObject({ step: 'add the analytics database', status: 500 });
    expect(error.message).toBe(
      'add the analytics database: POST /api/database answered 500: Connection to postgres:5432 refused.',
    );
    expect(metabase.log.at(-1)).toBe('POST /api/database');
    expect(metabase.cards).toHaveLength(0);
  });

  it('refuses a wrong admin password clearly, and never repeats a secret Metabase echoes', async () => {
    await provisionMetabase(clientFor(), config());
    const wrong = await failureOf(
      provisionMetabase(
        new MetabaseClient({ url: metabase.url, secrets: ['not-the-password-123'] }),
        config({ admin: { email: 'analyst-admin@example.com', password: 'not-the-password-123' } }),
      ),
    );
    expect(wrong).toMatchObject({ step: 'log in as the admin', status: 401 });
    expect(wrong.message).toMatch(/answered 401: password: did not match stored password/);

    metabase.failure = {
      method: 'PUT',
      path: /^\/api\/database\/\d+$/,
      status: 400,
      body: JSON.stringify({ errors: { password: `${DB_PASSWORD} is not accepted here` } }),
    };
    const echoed = await failureOf(
      provisionMetabase(clientFor(), config({ updateDatabase: true })),
    );
    expect(echoed.message).toContain('[redacted] is not accepted here');
    expect(echoed.message).not.toContain(DB_PASSWORD);
  });

  it('reports an unreachable Metabase, or a proxy page in its place, as such', async () => {
    await metabase.stop();
    const down = await failureOf(provisionMetabase(clientFor(metabase.url), config()));
    expect(down.status).toBeUndefined();
    expect(down.message).toMatch(
      /^check that Metabase is up: cannot reach Metabase at http:\/\/127\.0\.0\.1:\d+ \(GET \/api\/health\)/,
    );
    await metabase.start();
    metabase.failure = {
      method: 'GET',
      path: /^\/api\/session\/properties$/,
      status: 502,
      body: `<html><body>${'Bad gateway '.repeat(200)}</body></html>`,
    };
    const proxied = await failureOf(provisionMetabase(clientFor(), config()));
    expect(proxied.message).toMatch(
      /^read the setup state: GET \/api\/session\/properties answered 502: <html>/,
    );
    expect(proxied.message.length).toBeLessThan(700);
  });
});

describe('the environment', () => {
  const complete = {
    METABASE_URL: 'http://metabase:3000',
    METABASE_ADMIN_EMAIL: 'admin@example.com',
    METABASE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ANALYTICS_DB_HOST: 'postgres',
    ANALYTICS_DB_NAME: 'estate',
    ANALYTICS_DB_PASSWORD: DB_PASSWORD,
  };

  it('is read with defaults for the optional variables', () => {
    expect(parseMetabaseEnv(complete)).toMatchObject({
      url: 'http://metabase:3000',
      siteName: 'estate-edge',
      database: { port: 5432, user: 'estate_analytics', ssl: false },
      waitMs: 120_000,
      updateDatabase: false,
    });
  });

  it('names every bad or missing variable, never its value', () => {
    const error = (() => {
      try {
        parseMetabaseEnv({
          ...complete,
          METABASE_URL: 'ftp://metabase',
          METABASE_ADMIN_PASSWORD: 'short',
          ANALYTICS_DB_PORT: '99999',
          ANALYTICS_DB_PASSWORD: '',
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(MetabaseConfigError);
    for (const name of [
      'METABASE_URL',
      'METABASE_ADMIN_PASSWORD',
      'ANALYTICS_DB_PORT',
      'ANALYTICS_DB_PASSWORD is required',
    ])
      expect(error?.message).toContain(name);
    expect(error?.message).not.toContain('short');
  });
});

describe('npm run metabase:setup', () => {
  const execFileAsync = promisify(execFile);
  // Asynchronously: the stand-in answers from this process, which a synchronous spawn would block.
  async function setup(env: Record<string, string>) {
    const { METABASE_ADMIN_PASSWORD: _a, ANALYTICS_DB_PASSWORD: _b, ...inherited } = process.env;
    try {
      const { stdout, stderr } = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', join(projectRoot, 'scripts/metabase-setup.ts')],
        { env: { ...inherited, ...env }, timeout: 60_000 },
      );
      return { code: 0, out: stdout, err: stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout, err: e.stderr };
    }
  }
  const env = () => ({
    METABASE_URL: metabase.url,
    METABASE_ADMIN_EMAIL: 'admin@example.com',
    METABASE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    METABASE_WAIT_SECONDS: '5',
    ANALYTICS_DB_HOST: 'postgres',
    ANALYTICS_DB_NAME: 'estate',
    ANALYTICS_DB_PASSWORD: DB_PASSWORD,
  });

  it('provisions, says what it did, exits 0, and prints no secret', async () => {
    const first = await setup(env());
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^admin admin@example\.com: created$/m);
    expect(first.out).toMatch(/^database #\d+ "estate-edge analytics": created$/m);
    expect(first.out).toMatch(/card\(s\) added/);
    const again = await setup(env());
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^admin admin@example\.com: existing$/m);
    expect(again.out).not.toMatch(/: created/);
    for (const output of [first.out, first.err, again.out, again.err]) {
      expect(output).not.toContain(ADMIN_PASSWORD);
      expect(output).not.toContain(DB_PASSWORD);
    }
  }, 60_000);

  it('exits 1 naming the failed step, and 2 naming a missing variable', async () => {
    metabase.failure = {
      method: 'POST',
      path: /^\/api\/card$/,
      status: 500,
      body: '{"message":"boom"}',
    };
    const failed = await setup(env());
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(
      /^metabase-setup: save the question ".+": POST \/api\/card answered 500: boom$/m,
    );
    const { ANALYTICS_DB_PASSWORD: _, ...incomplete } = env();
    const missing = await setup(incomplete);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/ANALYTICS_DB_PASSWORD is required/);
    expect(missing.err).not.toContain(ADMIN_PASSWORD);
  }, 60_000);
});
