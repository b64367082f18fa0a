import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem, explain, type Fixture, loadFixture, type Row } from './testing.js';

/**
 * GET /v1/listings/{id}/comps on the King County sample: each answer recomputed independently,
 * distances by brute force over every row (no index), everything else in JS.
 */

let f: Fixture;
let rows: Row[];
let byId: Map<number, Row>;

beforeAll(async () => {
  f = await loadFixture();
  rows = await f.all();
  byId = new Map(rows.map((r) => [r.id, r]));
});
afterAll(async () => {
  await f?.t.drop();
});

type Comp = { id: number; distance_m: number; price_per_sqft: number; close_price: number };
type Comps = {
  subject: { id: number };
  criteria: {
    radius_m: number;
    months: number;
    living_area_pct: number;
    closed_between: [string | null, string];
  };
  comps: Comp[];
  estimate: null | {
    value: number;
    low: number;
    high: number;
    price_per_sqft: { median: number; p25: number; p75: number };
    count: number;
  };
};

/** PostgreSQL's `date - interval 'n months'`: the same day n months earlier, clamped to the month's end. */
function monthsBefore(iso: string, months: number): string {
  const [y, m, d] = iso.split('-').map(Number) as [number, number, number];
  const total = y * 12 + (m - 1) - months;
  const [year, month] = [Math.floor(total / 12), total % 12];
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(d, last))).toISOString().slice(0, 10);
}

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(sorted: number[], p: number): number {
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

async function expectedComps(id: number, o = { radius: 1600, months: 12, limit: 10, pct: 25 }) {
  const subject = byId.get(id) as Row;
  const distances = await f.db.rows<{ id: number; d: number }>(sql`
    SELECT id::float8 AS id,
           ST_Distance(geom::geography, (SELECT geom FROM listings WHERE id = ${id})::geography) AS d
    FROM listings`);
  const anchor =
    subject.close_date ?? subject.listing_contract_date ?? new Date().toISOString().slice(0, 10);
  const since = monthsBefore(anchor, o.months);
  const area = subject.living_area as number;
  const comps = distances
    .map(({ id: cid, d }) => ({ row: byId.get(cid) as Row, d }))
    .filter(
      ({ row, d }) =>
        row.id !== id &&
        d <= o.radius &&
        row.standard_status === 'Closed' &&
        row.property_type === subject.property_type &&
        row.living_area !== null &&
        row.living_area > 0 &&
        row.living_area >= area * (1 - o.pct / 100) &&
        row.living_area <= area * (1 + o.pct / 100) &&
        (subject.bedrooms_total === null ||
          (row.bedrooms_total !== null &&
            Math.abs(row.bedrooms_total - subject.bedrooms_total) <= 1)) &&
        row.close_price !== null &&
        row.close_date !== null &&
        row.close_date <= anchor &&
        row.close_date > since,
    )
    .sort((a, b) => a.d - b.d || a.row.id - b.row.id)
    .slice(0, o.limit);
  const ppsf = comps
    .map((c) => (c.row.close_price as number) / (c.row.living_area as number))
    .sort((a, b) => a - b);
  return {
    ids: comps.map((c) => c.row.id),
    distances: comps.map((c) => c.d),
    ppsf: comps.map((c) => (c.row.close_price as number) / (c.row.living_area as number)),
    estimate:
      ppsf.length === 0
        ? null
        : {
            value: Math.round(percentile(ppsf, 0.5) * area),
            low: Math.round(percentile(ppsf, 0.25) * area),
            high: Math.round(percentile(ppsf, 0.75) * area),
            median: percentile(ppsf, 0.5),
            count: ppsf.length,
          },
    since,
    anchor,
  };
}

async function comps(id: number, query = ''): Promise<Comps> {
  const response = await f.app.request(`/v1/listings/${id}/comps${query}`);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Comps;
}

function expectSame(got: Comps, want: Awaited<ReturnType<typeof expectedComps>>) {
  expect(got.comps.map((c) => c.id)).toEqual(want.ids);
  got.comps.forEach((c, n) => {
    expect(c.distance_m).toBeCloseTo(want.distances[n] as number, 6);
    expect(c.price_per_sqft).toBeCloseTo(want.ppsf[n] as number, 9);
  });
  expect(got.criteria.closed_between).toEqual([want.since, want.anchor]);
  if (want.estimate === null) {
    expect(got.estimate).toBeNull();
  } else {
    expect(got.estimate).toMatchObject({
      value: want.estimate.value,
      low: want.estimate.low,
      high: want.estimate.high,
      count: want.estimate.count,
    });
    expect(got.estimate?.price_per_sqft.median).toBeCloseTo(want.estimate.median, 9);
  }
}

/** Every 2,000th listing by id: spread over the county, deterministic. */
const subjects = () =>
  rows
    .map((r) => r.id)
    .sort((a, b) => a - b)
    .filter((_, n) => n % 2000 === 0);

describe('GET /v1/listings/{id}/comps', () => {
  it('matches an independent computation for a spread of listings, with the defaults', async () => {
    let withComps = 0;
    for (const id of subjects()) {
      const got = await comps(id);
      expectSame(got, await expectedComps(id));
      expect(got.comps.map((c) => c.id)).not.toContain(id);
      if (got.comps.length >= 3) withComps += 1;
    }
    expect(withComps).toBeGreaterThan(3);
  });

  it('honours radius, months, limit and living_area_pct', async () => {
    for (const id of subjects().slice(0, 4)) {
      const got = await comps(id, '?radius=5000&months=24&limit=30&living_area_pct=10');
      expect(got.criteria).toMatchObject({ radius_m: 5000, months: 24, living_area_pct: 10 });
      expectSame(got, await expectedComps(id, { radius: 5000, months: 24, limit: 30, pct: 10 }));
    }
  });

  it('answers empty comps and a null estimate when nothing is comparable', async () => {
    const id = subjects()[0] as number;
    const got = await comps(id, '?radius=1&months=1&living_area_pct=1');
    expect(got.comps).toEqual([]);
    expect(got.estimate).toBeNull();
  });

  it('finds comps through the GiST index', async () => {
    f.captured.length = 0;
    await comps(subjects()[1] as number, '?radius=3000');
    const plan = await explain(f.db, f.captured.at(-1) as never);
    expect(plan).toContain('listings_geom_gist');
    expect(plan).not.toContain('Seq Scan on listings');
  });

  it('answers an unknown listing with a 404 problem', async () => {
    await expectProblem(await f.app.request('/v1/listings/99999999/comps'), 404);
  });

  it.each([
    ['radius=50001', 'radius'],
    ['radius=0', 'radius'],
    ['radius=NaN', 'radius'],
    ['months=0', 'months'],
    ['months=121', 'months'],
    ['months=1.5', 'months'],
    ['limit=51', 'limit'],
    ['limit=10000', 'limit'],
    ['living_area_pct=0', 'living_area_pct'],
    ['living_area_pct=101', 'living_area_pct'],
    ["radius=1' OR '1'='1", 'radius'],
    [`months=${'9'.repeat(10_000)}`, 'months'],
    ['colour=red', 'colour'],
  ])('refuses ?%s with a 400 naming %s', async (query, name) => {
    const body = await expectProblem(
      await f.app.request(`/v1/listings/${subjects()[0]}/comps?${query}`),
      400,
    );
    expect(body.detail).toContain(name);
  });

  it('refuses a bad id with a 400 naming id', async () => {
    const body = await expectProblem(await f.app.request('/v1/listings/abc/comps'), 400);
    expect(body.detail).toContain('id');
  });
});
