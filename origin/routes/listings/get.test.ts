import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { declare, feedSource, fixture, HEADER } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { runSource } from '../../etl/run.js';
import { createLogger } from '../../logger.js';
import { expectProblem } from './testing.js';

/**
 * GET /v1/listings/{id}: a small feed loaded three times through the real ETL, so listings have
 * no change, a price change, a status change, and both.
 */

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
const idOf: Record<string, number> = {};

const feed = (rows: string[]) => fixture(`${HEADER}\n${rows.join('\n')}\n`);

beforeAll(async () => {
  t = await createTestDatabase();
  app = createApp({ db: t.db, logger: createLogger('silent') });
  const first = feed([
    'A1,A,500000,3,1 Pine St,2024-03-01,47.61,-122.33',
    'A2,A,650000,4,2 Oak Ave,2024-03-02,47.62,-122.31',
    'A3,A,420000,2,3 Elm St,2024-03-03,47.60,-122.30',
  ]);
  await declare(t.db, feedSource('feed', first));
  await runSource(t.db, 'feed', { location: first });
  // A1 unchanged; A2 cheaper; A3 goes pending.
  const second = feed([
    'A1,A,500000,3,1 Pine St,2024-03-01,47.61,-122.33',
    'A2,A,625000,4,2 Oak Ave,2024-03-02,47.62,-122.31',
    'A3,P,420000,2,3 Elm St,2024-03-03,47.60,-122.30',
  ]);
  await runSource(t.db, 'feed', { location: second });
  // A2 sells for less; A3 closes.
  const third = feed([
    'A1,A,500000,3,1 Pine St,2024-03-01,47.61,-122.33',
    'A2,S,600000,4,2 Oak Ave,2024-03-02,47.62,-122.31',
    'A3,S,420000,2,3 Elm St,2024-03-03,47.60,-122.30',
  ]);
  await runSource(t.db, 'feed', { location: third });
  for (const row of await t.db.rows<{ id: number; source_key: string }>(
    sql`SELECT id::float8 AS id, source_key FROM listings`,
  )) {
    idOf[row.source_key] = row.id;
  }
});
afterAll(async () => {
  await t?.drop();
});

type Event = {
  at: string;
  event: string;
  standard_status: string | null;
  list_price: number | null;
  previous?: { standard_status: string | null; list_price: number | null };
};
type Detail = Record<string, unknown> & { history: Event[] };

async function detail(key: string): Promise<Detail> {
  const response = await app.request(`/v1/listings/${idOf[key]}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Detail;
}

describe('GET /v1/listings/{id}', () => {
  it('returns every field of the listing, extras included', async () => {
    const body = await detail('A1');
    expect(body).toMatchObject({
      id: idOf.A1,
      source: 'feed',
      source_key: 'A1',
      standard_status: 'Active',
      list_price: 500_000,
      bedrooms_total: 3,
      unparsed_address: '1 Pine St',
      listing_contract_date: '2024-03-01',
      longitude: -122.33,
      latitude: 47.61,
      extra: expect.any(Object),
    });
    expect(Date.parse(body.created_at as string)).not.toBeNaN();
  });

  it('gives an unchanged listing a history of one first_seen event in its current state', async () => {
    const body = await detail('A1');
    expect(body.history).toEqual([
      {
        at: body.created_at,
        event: 'first_seen',
        standard_status: 'Active',
        list_price: 500_000,
        close_price: null,
        run_id: null,
      },
    ]);
  });

  it('starts a changed listing from the state before its first change, then each change oldest first', async () => {
    const body = await detail('A2');
    expect(body.history.map((e) => [e.event, e.standard_status, e.list_price])).toEqual([
      ['first_seen', 'Active', 650_000],
      ['price', 'Active', 625_000],
      ['price_status', 'Closed', 600_000],
    ]);
    expect(body.history[1]?.previous).toMatchObject({
      standard_status: 'Active',
      list_price: 650_000,
    });
    expect(body.history[2]?.previous).toMatchObject({
      standard_status: 'Active',
      list_price: 625_000,
    });
    const times = body.history.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // The history agrees with the table it comes from.
    const [count] = await t.db.rows<{ n: number }>(
      sql`SELECT count(*)::int AS n FROM listing_history WHERE listing_id = ${idOf.A2}`,
    );
    expect(body.history).toHaveLength((count?.n ?? 0) + 1);
  });

  it('records status-only changes as status events', async () => {
    const body = await detail('A3');
    expect(body.history.map((e) => [e.event, e.standard_status])).toEqual([
      ['first_seen', 'Active'],
      ['status', 'Pending'],
      ['status', 'Closed'],
    ]);
  });

  it('answers an unknown id with a 404 problem', async () => {
    const body = await expectProblem(await app.request('/v1/listings/987654321'), 404);
    expect(body.detail).toContain('987654321');
  });

  it.each([
    '0',
    '-1',
    '1.5',
    'abc',
    '1e3',
    '01',
    '99999999999999999999',
    "1' OR '1'='1",
    '%F0%9F%8F%A0',
    'x'.repeat(10_000),
  ])('refuses the id %s with a 400 naming id', async (id) => {
    const body = await expectProblem(await app.request(`/v1/listings/${id}`), 400);
    expect(body.detail).toContain('id');
  });

  it('refuses an unknown query parameter on a listing', async () => {
    const body = await expectProblem(await app.request(`/v1/listings/${idOf.A1}?colour=red`), 400);
    expect(body.detail).toContain('colour');
  });
});
