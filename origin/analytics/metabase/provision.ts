import { dashboardLayout, MARKET_OVERVIEW, QUESTIONS, type Question } from '../questions.js';
import { type MetabaseClient, MetabaseError } from './client.js';

/**
 * Idempotent provisioning of Metabase through its HTTP API: the first admin, the PostgreSQL
 * connection as the read-only role, the questions and the "Market overview" dashboard. Every
 * object is found by name first, so a second run creates nothing: it logs in, finds everything
 * and only corrects what drifted (the connection's details, a question's SQL, a missing card on
 * the dashboard). Endpoints as documented for Metabase ≥ 0.47 (dashcards through
 * PUT /api/dashboard/:id); see docs/analytics.md.
 */

export type AnalyticsConnection = {
  /** The connection's name in Metabase. */
  name: string;
  /** As Metabase reaches PostgreSQL (a compose service name, say), not as this script does. */
  host: string;
  port: number;
  dbname: string;
  /** The read-only role of scripts/db-roles.sql. */
  user: string;
  password: string;
  ssl: boolean;
};

export type ProvisionConfig = {
  siteName: string;
  admin: { email: string; password: string };
  database: AnalyticsConnection;
  /** How long to wait for Metabase to finish starting (GET /api/health). */
  waitMs?: number;
  /**
   * Send the connection's details even when nothing visible changed: Metabase never returns the
   * password, so a rotated one can only be applied this way.
   */
  updateDatabase?: boolean;
};

export type Action = 'created' | 'updated' | 'unchanged';

export type ProvisionReport = {
  admin: 'created' | 'existing';
  database: { id: number; action: Action };
  questions: { name: string; id: number; action: Action }[];
  dashboard: { id: number; action: 'created' | 'existing'; cardsAdded: number };
};

/** Only the schema the read-only role can read: Metabase's browser shows nothing else. */
export const ANALYTICS_SCHEMA = 'analytics';

type SessionProperties = { 'setup-token'?: string | null; 'has-user-setup'?: boolean };
type MetabaseDatabase = {
  id: number;
  name: string;
  engine?: string;
  details?: Record<string, unknown>;
};
type Card = {
  id: number;
  name: string;
  archived?: boolean;
  description?: string | null;
  display?: string;
  dataset_query?: unknown;
};
type Dashcard = {
  id: number;
  card_id: number | null;
  row: number;
  col: number;
  size_x: number;
  size_y: number;
  [key: string]: unknown;
};

export async function provisionMetabase(
  client: MetabaseClient,
  config: ProvisionConfig,
  questions: readonly Question[] = QUESTIONS,
  dashboard: { name: string; description: string } = MARKET_OVERVIEW,
): Promise<ProvisionReport> {
  assertUniqueNames(questions);
  await waitUntilHealthy(client, config.waitMs ?? 0);
  const admin = await signIn(client, config);
  const database = await ensureDatabase(client, config.database, config.updateDatabase ?? false);
  const saved = await ensureQuestions(client, database.id, questions);
  const board = await ensureDashboard(client, dashboard, saved, questions);
  return { admin, database, questions: saved, dashboard: board };
}

/** Metabase answers 503 `{ "status": "initializing" }` while it starts, which takes a minute. */
async function waitUntilHealthy(client: MetabaseClient, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await client.get('check that Metabase is up', '/api/health');
      return;
    } catch (error) {
      if (!(error instanceof MetabaseError) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, waitMs)));
    }
  }
}

/** The first admin on a fresh Metabase (POST /api/setup with its setup token), a login otherwise. */
async function signIn(
  client: MetabaseClient,
  config: ProvisionConfig,
): Promise<'created' | 'existing'> {
  const properties = await client.get<SessionProperties>(
    'read the setup state',
    '/api/session/properties',
  );
  if (properties['has-user-setup'] === false) {
    const token = properties['setup-token'];
    if (!token)
      throw new MetabaseError(
        'create the first admin',
        undefined,
        'create the first admin: Metabase has no user yet but gave no setup-token in /api/session/properties',
      );
    const session = await client.post<{ id?: string }>('create the first admin', '/api/setup', {
      token,
      user: {
        email: config.admin.email,
        password: config.admin.password,
        first_name: 'estate-edge',
        last_name: 'Admin',
        site_name: config.siteName,
      },
      prefs: { site_name: config.siteName, site_locale: 'en', allow_tracking: false },
    });
    client.useSession(sessionId('create the first admin', session));
    return 'created';
  }
  const session = await client.post<{ id?: string }>('log in as the admin', '/api/session', {
    username: config.admin.email,
    password: config.admin.password,
  });
  client.useSession(sessionId('log in as the admin', session));
  return 'existing';
}

function sessionId(step: string, body: { id?: string } | undefined): string {
  if (typeof body?.id !== 'string' || body.id === '')
    throw new MetabaseError(step, undefined, `${step}: Metabase's answer carried no session id`);
  return body.id;
}

/** The connection's details as Metabase stores them (the postgres driver's field names). */
function connectionDetails(db: AnalyticsConnection) {
  return {
    host: db.host,
    port: db.port,
    dbname: db.dbname,
    user: db.user,
    password: db.password,
    ssl: db.ssl,
    'schema-filters-type': 'inclusion',
    'schema-filters-patterns': ANALYTICS_SCHEMA,
  };
}

async function ensureDatabase(
  client: MetabaseClient,
  db: AnalyticsConnection,
  force: boolean,
): Promise<{ id: number; action: Action }> {
  // Recent versions wrap the list in { data, total }; older ones answered a bare array.
  const listed = await client.get<MetabaseDatabase[] | { data: MetabaseDatabase[] }>(
    'list the databases',
    '/api/database',
  );
  const all = Array.isArray(listed) ? listed : (listed?.data ?? []);
  const existing = all.find((d) => d.name === db.name);
  const details = connectionDetails(db);
  if (!existing) {
    const created = await client.post<MetabaseDatabase>(
      'add the analytics database',
      '/api/database',
      {
        name: db.name,
        engine: 'postgres',
        details,
        is_full_sync: true,
        is_on_demand: false,
        auto_run_queries: true,
      },
    );
    return { id: idOf('add the analytics database', created), action: 'created' };
  }
  // Metabase never returns the password (it masks it), so only the other details are compared:
  // a rotated password is applied by re-running with METABASE_UPDATE_DATABASE=true.
  const stored = existing.details ?? {};
  const drifted =
    existing.engine !== 'postgres' ||
    (Object.keys(details) as (keyof typeof details)[]).some(
      (key) => key !== 'password' && String(stored[key]) !== String(details[key]),
    );
  if (!drifted && !force) return { id: existing.id, action: 'unchanged' };
  await client.put('update the analytics database', `/api/database/${existing.id}`, {
    name: db.name,
    engine: 'postgres',
    details,
  });
  return { id: existing.id, action: 'updated' };
}

/** The SQL of a native card, in the legacy shape (`native.query`) or MBQL 5's (`stages[0].native`). */
export function nativeSqlOf(datasetQuery: unknown): { sql?: string; database?: number } {
  const q = (datasetQuery ?? {}) as {
    database?: number;
    native?: { query?: string };
    stages?: { native?: string }[];
  };
  return { sql: q.native?.query ?? q.stages?.[0]?.native, database: q.database };
}

function cardPayload(question: Question, databaseId: number) {
  return {
    name: question.name,
    type: 'question',
    description: question.description,
    display: question.display,
    dataset_query: {
      type: 'native',
      native: { query: question.sql, 'template-tags': {} },
      database: databaseId,
    },
    visualization_settings: question.visualizationSettings,
  };
}

async function ensureQuestions(
  client: MetabaseClient,
  databaseId: number,
  questions: readonly Question[],
): Promise<ProvisionReport['questions']> {
  const cards = await client.get<Card[]>('list the questions', '/api/card?f=all');
  const report: ProvisionReport['questions'] = [];
  for (const question of questions) {
    const step = `save the question "${question.name}"`;
    const existing = (Array.isArray(cards) ? cards : []).find(
      (c) => c.name === question.name && !c.archived,
    );
    if (!existing) {
      const created = await client.post<Card>(step, '/api/card', cardPayload(question, databaseId));
      report.push({ name: question.name, id: idOf(step, created), action: 'created' });
      continue;
    }
    // The SQL and its database are ours; how the analyst arranged the chart is theirs.
    const current = nativeSqlOf(existing.dataset_query);
    if (current.sql === question.sql && current.database === databaseId) {
      report.push({ name: question.name, id: existing.id, action: 'unchanged' });
      continue;
    }
    const { name: _name, ...update } = cardPayload(question, databaseId);
    await client.put(step, `/api/card/${existing.id}`, update);
    report.push({ name: question.name, id: existing.id, action: 'updated' });
  }
  return report;
}

async function ensureDashboard(
  client: MetabaseClient,
  dashboard: { name: string; description: string },
  saved: ProvisionReport['questions'],
  questions: readonly Question[],
): Promise<ProvisionReport['dashboard']> {
  const found = await client.get<{
    data?: { id: number; name: string; model?: string; archived?: boolean }[];
  }>('find the dashboard', `/api/search?models=dashboard&q=${encodeURIComponent(dashboard.name)}`);
  const match = (found?.data ?? []).find(
    (d) => d.name === dashboard.name && (d.model ?? 'dashboard') === 'dashboard' && !d.archived,
  );
  let id: number;
  let action: 'created' | 'existing' = 'existing';
  if (match) id = match.id;
  else {
    const created = await client.post<{ id: number }>('create the dashboard', '/api/dashboard', {
      name: dashboard.name,
      description: dashboard.description,
    });
    id = idOf('create the dashboard', created);
    action = 'created';
  }
  const current = await client.get<{ dashcards?: Dashcard[]; ordered_cards?: Dashcard[] }>(
    'read the dashboard',
    `/api/dashboard/${id}`,
  );
  const existing = current?.dashcards ?? current?.ordered_cards ?? [];
  const onBoard = new Set(existing.map((d) => d.card_id));
  const layout = dashboardLayout(questions);
  // New cards go below whatever is there, so an analyst's arrangement is never overlapped.
  const top = existing.reduce((max, d) => Math.max(max, d.row + d.size_y), 0);
  const missing = saved
    .map((s, i) => ({ cardId: s.id, place: layout[i] as (typeof layout)[number] }))
    .filter((m) => !onBoard.has(m.cardId));
  if (missing.length === 0) return { id, action, cardsAdded: 0 };
  const firstRow = Math.min(...missing.map((m) => m.place.row));
  // The PUT takes the dashboard's whole set of dashcards: the ones there are sent back unchanged
  // (left out, they would be deleted); new ones have negative ids.
  const dashcards = [
    ...existing.map(keepDashcard),
    ...missing.map((m, i) => ({
      id: -(i + 1),
      card_id: m.cardId,
      row: top + m.place.row - firstRow,
      col: m.place.col,
      size_x: m.place.width,
      size_y: m.place.height,
      parameter_mappings: [],
      visualization_settings: {},
    })),
  ];
  await client.put('add the questions to the dashboard', `/api/dashboard/${id}`, { dashcards });
  return { id, action, cardsAdded: missing.length };
}

/** An existing dashcard as PUT /api/dashboard/:id takes it back. */
function keepDashcard(d: Dashcard) {
  const kept: Record<string, unknown> = {
    id: d.id,
    card_id: d.card_id,
    row: d.row,
    col: d.col,
    size_x: d.size_x,
    size_y: d.size_y,
  };
  for (const key of [
    'dashboard_tab_id',
    'parameter_mappings',
    'visualization_settings',
    'series',
    'action_id',
  ])
    if (d[key] !== undefined) kept[key] = d[key];
  return kept;
}

function idOf(step: string, body: { id?: unknown } | undefined): number {
  if (typeof body?.id !== 'number')
    throw new MetabaseError(step, undefined, `${step}: Metabase's answer carried no id`);
  return body.id;
}

function assertUniqueNames(questions: readonly Question[]): void {
  const seen = new Set<string>();
  for (const q of questions) {
    if (seen.has(q.name)) throw new Error(`two questions are named "${q.name}"`);
    seen.add(q.name);
  }
}
