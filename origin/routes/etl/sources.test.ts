import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { TEST_EDGE_SECRET, throughEdge } from '../../../test/support/edge-assertion.js';
import { feedSource } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { declareShippedSources } from '../../bootstrap.js';
import type { SourceInput } from '../../etl/source-config.js';
import { createLogger } from '../../logger.js';

type Problem = { status: number; detail: string; request_id?: string };
type StoredRow = {
  name: string;
  format: string;
  location: string;
  schedule: string | null;
  enabled: boolean;
  mapping: Record<string, unknown>;
};

let t: TestDatabase;
let app: ReturnType<typeof createApp>;

const shipped = JSON.parse(
  readFileSync(new URL('../../etl/sources.json', import.meta.url), 'utf8'),
) as SourceInput[];

function put(name: string, body: unknown): Promise<Response> {
  return Promise.resolve(
    app.request(`/v1/etl/sources/${name}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

async function storedRow(name: string): Promise<StoredRow | undefined> {
  const [row] = await t.db.rows<StoredRow>(
    sql`SELECT name, format, location, schedule, enabled, mapping FROM etl_sources WHERE name = ${name}`,
  );
  return row;
}

beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  app = throughEdge(
    createApp({ db: t.db, logger: createLogger('silent'), edgeAssertionSecret: TEST_EDGE_SECRET }),
  );
});

afterAll(async () => {
  await t?.drop();
});

describe('GET /v1/etl/sources', () => {
  it('lists every declared source with its schedule, by name', async () => {
    const res = await app.request('/v1/etl/sources');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: (SourceInput & { id: number })[] };
    const names = body.items.map((s) => s.name);
    expect(names).toEqual([...names].sort());
    for (const declared of shipped) {
      const listed = body.items.find((s) => s.name === declared.name);
      expect(listed?.schedule ?? null, declared.name).toBe(declared.schedule ?? null);
    }
    const [row] = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM etl_sources`);
    expect(body.items).toHaveLength(row?.n ?? -1);
  });

  it('refuses unknown query parameters rather than ignoring them', async () => {
    const res = await app.request('/v1/etl/sources?limit=5');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(((await res.json()) as Problem).detail).toContain('limit');
  });
});

describe('GET /v1/etl/sources/{name}', () => {
  it('answers the shipped King County source as sources.json declares it', async () => {
    const res = await app.request('/v1/etl/sources/king-county');
    expect(res.status).toBe(200);
    const body = (await res.json()) as SourceInput & { id: number };
    const declared = shipped.find((s) => s.name === 'king-county') as SourceInput;
    expect(body.name).toBe('king-county');
    expect(body.format).toBe(declared.format);
    expect(body.location).toBe(declared.location);
    expect(body.schedule ?? null).toBe(declared.schedule ?? null);
    expect(body.mapping.fields).toEqual(declared.mapping.fields);
    expect(body.mapping.key.fields).toEqual(declared.mapping.key.fields);
    const [row] = await t.db.rows<{ id: number }>(
      sql`SELECT id FROM etl_sources WHERE name = 'king-county'`,
    );
    expect(body.id).toBe(row?.id);
  });

  it('answers 404 for a source nobody declared', async () => {
    const res = await app.request('/v1/etl/sources/nobody-declared-this');
    expect(res.status).toBe(404);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(((await res.json()) as Problem).detail).toContain('nobody-declared-this');
  });

  it.each([
    ['capitals', 'King-County'],
    ['SQL', encodeURIComponent("x' OR '1'='1")],
    ['unicode', encodeURIComponent('kïng-county')],
    ['a leading dash', '-king'],
    ['a 10 KB name', 'a'.repeat(10_000)],
  ])('answers 400 naming the path parameter for %s', async (_case, name) => {
    const res = await app.request(`/v1/etl/sources/${name}`);
    expect(res.status).toBe(400);
    const problem = (await res.json()) as Problem;
    expect(problem.detail).toContain("path parameter 'name'");
    expect(problem.detail.length).toBeLessThanOrEqual(600);
  });
});

describe('PUT /v1/etl/sources/{name}', () => {
  const valid = feedSource('new-feed', '/data/feeds/new-feed.csv');

  it('creates a source (201, Location) and answers it as stored', async () => {
    const res = await put('new-feed', { ...valid, schedule: '0 3 * * *' });
    expect(res.status).toBe(201);
    expect(res.headers.get('Location')).toBe('/v1/etl/sources/new-feed');
    const body = (await res.json()) as SourceInput & { id: number };
    expect(body).toMatchObject({ name: 'new-feed', schedule: '0 3 * * *', enabled: true });
    // Defaults are filled in, as the ETL reads them.
    expect(body.mapping.delimiter).toBe(',');
    const row = await storedRow('new-feed');
    expect(row).toMatchObject({
      location: '/data/feeds/new-feed.csv',
      schedule: '0 3 * * *',
      format: 'csv',
    });
    expect(row?.mapping.fields).toEqual(valid.mapping.fields);
    const again = await app.request('/v1/etl/sources/new-feed');
    expect(await again.json()).toEqual(body);
  });

  it('replaces a source (200), and takes its name from the path when the body has none', async () => {
    const { name: _name, ...withoutName } = valid;
    const res = await put('new-feed', {
      ...withoutName,
      location: '/data/feeds/v2.csv',
      enabled: false,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: 'new-feed',
      location: '/data/feeds/v2.csv',
      enabled: false,
    });
    expect(await storedRow('new-feed')).toMatchObject({
      location: '/data/feeds/v2.csv',
      enabled: false,
      schedule: null,
    });
    const [count] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM etl_sources WHERE name = 'new-feed'`,
    );
    expect(count?.n).toBe(1);
  });

  it('stores hostile text in a location as plain text, never as SQL', async () => {
    const location = "/tmp/x'; DROP TABLE etl_sources; --.csv";
    const res = await put('hostile-text', { ...valid, name: undefined, location });
    expect(res.status).toBe(201);
    expect((await storedRow('hostile-text'))?.location).toBe(location);
    expect(await storedRow('king-county')).toBeDefined();
  });

  it.each([
    ['a name that contradicts the path', { ...valid, name: 'other-feed' }, 'name'],
    ['a bad cron', { ...valid, schedule: 'every day at 3' }, "'schedule'"],
    ['a cron minute out of range', { ...valid, schedule: '61 * * * *' }, "'schedule'"],
    ['an unknown format', { ...valid, format: 'xlsx' }, "'format'"],
    ['an empty location', { ...valid, location: '' }, "'location'"],
    ['a 10 KB name', { ...valid, name: 'a'.repeat(10_000) }, "'name'"],
    ['SQL as the name', { ...valid, name: "x'; DROP TABLE etl_sources; --" }, "'name'"],
    [
      'an unknown mapped field',
      { ...valid, mapping: { ...valid.mapping, fields: { price_usd: 'price' } } },
      'price_usd',
    ],
    [
      'a mapping without a key',
      { ...valid, mapping: { fields: valid.mapping.fields } },
      'mapping.key',
    ],
    [
      'an unknown field type',
      {
        ...valid,
        mapping: { ...valid.mapping, fields: { list_price: { from: 'price', type: 'money' } } },
      },
      'mapping.fields.list_price',
    ],
    [
      'inverted bounds',
      { ...valid, mapping: { ...valid.mapping, bounds: [10, 10, 0, 0] } },
      'mapping.bounds',
    ],
    ['an unknown top-level field', { ...valid, owner: 'me' }, "'owner'"],
    ['a missing mapping', { name: 'new-feed', format: 'csv', location: '/x.csv' }, "'mapping'"],
  ])('answers 400 naming the field for %s, and stores nothing', async (_case, body, field) => {
    const before = await t.db.rows(
      sql`SELECT name, location, schedule, enabled, mapping, updated_at FROM etl_sources ORDER BY name`,
    );
    const res = await put('new-feed', body);
    expect(res.status).toBe(400);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    const problem = (await res.json()) as Problem;
    expect(problem.detail).toContain(field);
    expect(problem.detail.length).toBeLessThanOrEqual(600);
    const after = await t.db.rows(
      sql`SELECT name, location, schedule, enabled, mapping, updated_at FROM etl_sources ORDER BY name`,
    );
    expect(after).toEqual(before);
  });

  it('answers 400 for a body that is not JSON and for a JSON array', async () => {
    expect((await put('new-feed', '{"format": "csv",')).status).toBe(400);
    expect((await put('new-feed', '[]')).status).toBe(400);
  });

  it('answers 400 for a path name that is not a source name', async () => {
    const res = await put('New_Feed', valid);
    expect(res.status).toBe(400);
    expect(((await res.json()) as Problem).detail).toContain("path parameter 'name'");
  });
});
