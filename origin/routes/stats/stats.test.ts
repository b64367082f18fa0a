import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSource, writeSyntheticCsv } from '../../../scripts/lib/synthetic.js';
import { createTestDatabase, type TestDatabase } from '../../../test/support/db.js';
import { fixture } from '../../../test/support/etl.js';
import { createApp } from '../../app.js';
import { loadAreasFromGeoJSON } from '../../areas/load.js';
import { declareShippedSources } from '../../bootstrap.js';
import { projectRoot } from '../../etl/fetch-input.js';
import { runSource } from '../../etl/run.js';
import { upsertSource } from '../../etl/sources.js';
import { createLogger } from '../../logger.js';
import {
  type ExpectedGroup,
  expectedStats,
  inRings,
  type Rec,
  readKingCounty,
  readSynthetic,
  vincentyMetres,
} from './reference.js';

/**
 * /v1/stats against real PostGIS, over the King County sample plus synthetic listings (which
 * bring list prices, listing dates, statuses and types the sample lacks; their Seattle cluster
 * overlaps it). Every expected number is computed in JS from the CSV files (reference.ts).
 */

let t: TestDatabase;
let app: ReturnType<typeof createApp>;
let all: Rec[];
const areaIds: Record<string, number> = {};

const HOOD_A = [
  [-122.36711, 47.59313],
  [-122.29117, 47.58771],
  [-122.27353, 47.63119],
  [-122.31977, 47.67233],
  [-122.37489, 47.64561],
  [-122.36711, 47.59313],
];
const HOOD_B = [
  [-122.33157, 47.62213],
  [-122.25119, 47.61877],
  [-122.24531, 47.70111],
  [-122.34211, 47.69653],
  [-122.33157, 47.62213],
];
const EASTSIDE = [
  [-122.21137, 47.57113],
  [-122.11173, 47.57291],
  [-122.10931, 47.65037],
  [-122.20917, 47.64913],
  [-122.21137, 47.57113],
];
const BBOX = [-122.40123, 47.55123, -122.20123, 47.72123] as const;

const inBbox = (r: Rec, [x0, y0, x1, y1]: readonly number[]) =>
  r.lon >= (x0 as number) &&
  r.lon <= (x1 as number) &&
  r.lat >= (y0 as number) &&
  r.lat <= (y1 as number);

beforeAll(async () => {
  t = await createTestDatabase();
  await declareShippedSources(t.db);
  const kc = await runSource(t.db, 'king-county');
  const syntheticPath = fixture('', 'csv');
  await writeSyntheticCsv(syntheticPath, 8000);
  await upsertSource(t.db, syntheticSource(syntheticPath));
  const syn = await runSource(t.db, 'synthetic');
  expect([kc.rowsRejected, syn.rowsRejected]).toEqual([0, 0]);
  all = [
    ...readKingCounty(join(projectRoot, 'origin/etl/samples/kc_house_data.csv')),
    ...readSynthetic(syntheticPath),
  ];
  expect(kc.rowsInserted + syn.rowsInserted).toBe(all.length);

  const polygon = (name: string, ring: number[][]) => ({
    type: 'Feature',
    properties: { name },
    geometry: { type: 'Polygon', coordinates: [ring] },
  });
  const hoods = await loadAreasFromGeoJSON(
    t.db,
    { type: 'FeatureCollection', features: [polygon('A', HOOD_A), polygon('B', HOOD_B)] },
    { kind: 'hood' },
  );
  const other = await loadAreasFromGeoJSON(
    t.db,
    { type: 'FeatureCollection', features: [polygon('Eastside', EASTSIDE)] },
    { kind: 'other' },
  );
  [areaIds.A, areaIds.B, areaIds.Eastside] = [...hoods.ids, ...other.ids] as [
    number,
    number,
    number,
  ];
  app = createApp({ db: t.db, logger: createLogger('silent') });
}, 120_000);

afterAll(async () => {
  await t.drop();
});

type Body = {
  group: string;
  groups: (ExpectedGroup & { area?: { id: number; slug: string; name: string; kind: string } })[];
  truncated: boolean;
  detail?: string;
};

async function stats(query: string): Promise<{ status: number; type: string | null; body: Body }> {
  const res = await app.request(`/v1/stats?${query}`);
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: (await res.json()) as Body,
  };
}

function close(
  actual: number | null | undefined,
  expected: number | null | undefined,
  what: string,
) {
  if (expected === null || expected === undefined) {
    expect(actual, what).toBeNull();
    return;
  }
  expect(actual, what).not.toBeNull();
  expect(
    Math.abs((actual as number) - expected),
    `${what}: ${actual} vs ${expected}`,
  ).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
}

/** Every group, every field, against the reference (order checked separately). */
function expectGroups(actual: Body['groups'], expected: ExpectedGroup[]) {
  const got = [...actual].sort((a, b) => String(a.key).localeCompare(String(b.key)));
  expect(got.map((g) => g.key)).toEqual(expected.map((g) => g.key));
  got.forEach((g, i) => {
    const e = expected[i] as ExpectedGroup;
    expect(
      { count: g.count, new_listings: g.new_listings, closed_sales: g.closed_sales },
      `group ${g.key}`,
    ).toEqual({
      count: e.count,
      new_listings: e.new_listings,
      closed_sales: e.closed_sales,
    });
    for (const measure of ['list_price', 'close_price', 'price_per_sqft'] as const) {
      const want = e[measure];
      if (want === null) expect(g[measure], `${g.key} ${measure}`).toBeNull();
      else
        for (const p of ['p10', 'p25', 'median', 'p75', 'p90'] as const)
          close(g[measure]?.[p], want[p], `${g.key} ${measure}.${p}`);
    }
    close(g.median_days_on_market, e.median_days_on_market, `${g.key} median_days_on_market`);
  });
}

describe('GET /v1/stats', () => {
  it('groups a bbox by month of each listing’s event, matching the CSV to the cent', async () => {
    const res = await stats(`bbox=${BBOX.join(',')}&group=month`);
    expect(res.status).toBe(200);
    expect(res.body.group).toBe('month');
    expect(res.body.truncated).toBe(false);
    const expected = expectedStats(
      all.filter((r) => inBbox(r, BBOX)),
      { group: 'month' },
    );
    // Sanity: the bbox holds both datasets, and months with only new listings exist.
    expect(expected.length).toBeGreaterThan(20);
    expect(
      expected.some((g) => g.count === 0 && g.new_listings > 0) ||
        expected.some((g) => g.new_listings !== g.count),
    ).toBe(true);
    expectGroups(res.body.groups, expected);
    const keys = res.body.groups.map((g) => g.key as string);
    expect(keys).toEqual([...keys].sort());
    expect(keys.every((k) => /^\d{4}-\d{2}$/.test(k))).toBe(true);
  });

  it('groups a circle by property type, with the circle measured on the spheroid', async () => {
    const [lon, lat] = [-122.3137, 47.6291];
    const distance = all.map((r) => vincentyMetres(lon, lat, r.lon, r.lat));
    // A radius no listing lies within half a metre of, so the two geodesics cannot disagree.
    let radius = 4000;
    while (distance.some((d) => Math.abs(d - radius) < 0.5)) radius += 1;
    const res = await stats(`near=${lon},${lat}&radius=${radius}&group=type`);
    expect(res.status).toBe(200);
    const inside = all.filter((_, i) => (distance[i] as number) <= radius);
    const expected = expectedStats(inside, { group: 'type' });
    expect(expected.length).toBeGreaterThan(3);
    expectGroups(res.body.groups, expected);
    const counts = res.body.groups.map((g) => g.count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  it('groups by every stored area the listings lie in (overlaps count in each), optionally by kind', async () => {
    const ringsById = new Map([
      [areaIds.A, [HOOD_A]],
      [areaIds.B, [HOOD_B]],
      [areaIds.Eastside, [EASTSIDE]],
    ]);
    const keysOf = (kinds: number[]) => (r: Rec) =>
      kinds.filter((id) => inRings(r.lon, r.lat, ringsById.get(id) as number[][][])).map(String);
    const wide = [-122.5, 47.4, -122.0, 47.8] as const;
    const inWide = all.filter((r) => inBbox(r, wide));

    const every = await stats(`bbox=${wide.join(',')}&group=area`);
    expect(every.status).toBe(200);
    expectGroups(
      every.body.groups,
      expectedStats(inWide, {
        group: 'area',
        keysOf: keysOf([areaIds.A, areaIds.B, areaIds.Eastside] as number[]),
      }),
    );
    const hoodA = every.body.groups.find((g) => g.key === String(areaIds.A));
    expect(hoodA?.area).toEqual({ id: areaIds.A, slug: 'hood-a', name: 'A', kind: 'hood' });

    const hoods = await stats(`bbox=${wide.join(',')}&group=area&kind=hood`);
    expectGroups(
      hoods.body.groups,
      expectedStats(inWide, { group: 'area', keysOf: keysOf([areaIds.A, areaIds.B] as number[]) }),
    );
    expect(hoods.body.groups.map((g) => g.area?.kind)).toEqual(['hood', 'hood']);
  });

  it('takes a stored area as the where, by month and by type', async () => {
    const inside = all.filter((r) => inRings(r.lon, r.lat, [HOOD_B]));
    for (const group of ['month', 'type'] as const) {
      const res = await stats(`area=${areaIds.B}&group=${group}`);
      expect(res.status).toBe(200);
      expectGroups(res.body.groups, expectedStats(inside, { group }));
    }
  });

  it('filters by status, type and period, alone and together', async () => {
    const base = all.filter((r) => inBbox(r, BBOX));
    const cases: {
      query: string;
      filter: (r: Rec) => boolean;
      since?: string;
      until?: string;
      group: 'month' | 'type';
    }[] = [
      {
        query: 'status=Closed,Pending',
        filter: (r) => ['Closed', 'Pending'].includes(r.status),
        group: 'type',
      },
      { query: 'status=Active', filter: (r) => r.status === 'Active', group: 'month' },
      { query: 'type=Condominium', filter: (r) => r.type === 'Condominium', group: 'month' },
      {
        query: 'type=Townhouse,Land&status=Closed',
        filter: (r) => ['Townhouse', 'Land'].includes(r.type ?? '') && r.status === 'Closed',
        group: 'type',
      },
      {
        query: 'since=2014-09-01&until=2015-01-31',
        filter: () => true,
        since: '2014-09-01',
        until: '2015-01-31',
        group: 'month',
      },
      { query: 'since=2021-03-15', filter: () => true, since: '2021-03-15', group: 'type' },
      {
        query: 'until=2020-06-30&type=Residential',
        filter: (r) => r.type === 'Residential',
        until: '2020-06-30',
        group: 'type',
      },
      {
        query: 'since=2020-01-01&until=2020-12-31',
        filter: () => true,
        since: '2020-01-01',
        until: '2020-12-31',
        group: 'month',
      },
    ];
    for (const c of cases) {
      const res = await stats(`bbox=${BBOX.join(',')}&group=${c.group}&${c.query}`);
      expect(res.status, c.query).toBe(200);
      const expected = expectedStats(base.filter(c.filter), {
        group: c.group,
        ...(c.since ? { since: c.since } : {}),
        ...(c.until ? { until: c.until } : {}),
      });
      expect(expected.length, c.query).toBeGreaterThan(0);
      expectGroups(res.body.groups, expected);
    }
  });

  it('answers empty groups, not an error, when nothing matches', async () => {
    for (const query of [
      'bbox=-30.5,10.5,-30.4,10.6&group=month', // mid-Atlantic
      `bbox=${BBOX.join(',')}&status=Hold`,
      `bbox=${BBOX.join(',')}&type=Castle&group=type`,
      `bbox=${BBOX.join(',')}&since=1990-01-01&until=1990-12-31`,
      `near=-30.5,10.5&radius=50000&group=area`,
      `area=${areaIds.A}&group=area&kind=nothing-of-this-kind`,
    ]) {
      const res = await stats(query);
      expect(res.status, query).toBe(200);
      expect(res.body, query).toEqual({ group: expect.any(String), groups: [], truncated: false });
    }
  });

  it('defaults to group=month', async () => {
    const res = await stats(`area=${areaIds.A}`);
    expect(res.body.group).toBe('month');
    expect(res.body.groups.length).toBeGreaterThan(0);
  });

  it('answers 400 problem+json naming the parameter for bad input, never a 500', async () => {
    const bad: [string, string][] = [
      ['', 'bbox'],
      ['group=month', 'bbox'],
      [`bbox=${BBOX.join(',')}&near=-122.3,47.6`, 'bbox'],
      ['radius=100', 'radius'],
      ['bbox=1,2,3', 'bbox'],
      ['bbox=10,10,0,0', 'bbox'],
      ['bbox=NaN,1,2,3', 'bbox'],
      ['bbox=-200,0,0,10', 'bbox'],
      [`bbox=${'1'.repeat(10_000)}`, 'bbox'],
      ["bbox=1,2,3,4'); DROP TABLE listings;--", 'bbox'],
      ['near=-122.3,47.6&radius=50001', 'radius'],
      ['near=-122.3,47.6&radius=-5', 'radius'],
      ['near=abc', 'near'],
      ['area=0', 'area'],
      ['area=1.5', 'area'],
      ['area=99999999999', 'area'],
      ['area=2147483000', 'area'],
      [`bbox=${BBOX.join(',')}&group=week`, 'group'],
      [`bbox=${BBOX.join(',')}&group=month%27%3B--`, 'group'],
      [`bbox=${BBOX.join(',')}&status=Sold`, 'status'],
      [`bbox=${BBOX.join(',')}&status=`, 'status'],
      [`bbox=${BBOX.join(',')}&status=Closed'--`, 'status'],
      [`bbox=${BBOX.join(',')}&type=${encodeURIComponent("x'; DROP TABLE listings;--")}`, 'type'],
      [`bbox=${BBOX.join(',')}&type=${'t'.repeat(10_000)}`, 'type'],
      [`bbox=${BBOX.join(',')}&type=${encodeURIComponent('Résidentiel 🏠')}`, 'type'],
      [`bbox=${BBOX.join(',')}&since=2015-02-30`, 'since'],
      [`bbox=${BBOX.join(',')}&since=yesterday`, 'since'],
      [`bbox=${BBOX.join(',')}&until=2015-1-1`, 'until'],
      [`bbox=${BBOX.join(',')}&since=2015-06-01&until=2015-01-01`, 'since'],
      [`bbox=${BBOX.join(',')}&kind=hood`, 'kind'],
      [`bbox=${BBOX.join(',')}&group=area&kind=NOT%20A%20KIND`, 'kind'],
      [`bbox=${BBOX.join(',')}&limit=10`, 'limit'],
      [`bbox=${BBOX.join(',')}&${'x'.repeat(10_000)}=1`, 'xxxx'],
    ];
    for (const [query, param] of bad) {
      const res = await stats(query);
      expect(res.status, query.slice(0, 80)).toBe(400);
      expect(res.type).toBe('application/problem+json');
      expect(res.body.detail, query.slice(0, 80)).toContain(param);
      expect((res.body.detail as string).length).toBeLessThan(1000);
    }
  });

  it('answers 400 naming area for an area id that does not exist', async () => {
    const res = await stats('area=987654');
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/area.*987654/);
  });
});
