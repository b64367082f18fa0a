import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../app.js';
import { createLogger } from '../../logger.js';
import { createCursorCodec } from './cursor.js';
import type { ListingSummary } from './search.js';
import { expectProblem, explain, type Fixture, loadFixture, type Row } from './testing.js';

/**
 * GET /v1/listings against real PostGIS: the King County sample through the real ETL plus 3,000
 * synthetic listings (every status and type, list prices, listing dates), each answer checked
 * against the same question answered in JS over a plain dump of the table.
 */

let f: Fixture;
let rows: Row[];
/** Central Seattle: part of King County and some synthetic Seattle listings, not all. */
const BBOX = [-122.36, 47.55, -122.25, 47.7] as const;
const bboxParam = BBOX.join(',');
const inBbox = (r: Row) =>
  r.longitude >= BBOX[0] &&
  r.longitude <= BBOX[2] &&
  r.latitude >= BBOX[1] &&
  r.latitude <= BBOX[3];

beforeAll(async () => {
  f = await loadFixture({ synthetic: 3000 });
  rows = await f.all();
});
afterAll(async () => {
  await f?.t.drop();
});

type Page = { items: ListingSummary[]; next_cursor: string | null };

async function get(path: string, init?: RequestInit): Promise<Page> {
  const response = await f.app.request(path, init);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Page;
}

/** Every page of a search, following next_cursor; checks each page's size on the way. */
async function allPages(query: string, limit: number): Promise<{ ids: number[]; pages: number }> {
  const ids: number[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await get(`/v1/listings?${query}&limit=${limit}${suffix}`);
    pages += 1;
    expect(page.items.length).toBeLessThanOrEqual(limit);
    if (page.next_cursor) expect(page.items).toHaveLength(limit);
    ids.push(...page.items.map((i) => i.id));
    cursor = page.next_cursor;
    expect(pages).toBeLessThan(1000);
  } while (cursor);
  return { ids, pages };
}

const price = (r: Row) => r.close_price ?? r.list_price;
/** The documented order, computed in JS: missing keys last either way, ties on id. */
function sorted(list: Row[], sort: string): number[] {
  const key = (r: Row): number | string | null =>
    sort.endsWith('price') ? price(r) : sort.endsWith('listed') ? r.listing_contract_date : null;
  const descending = sort.startsWith('-') || sort === 'newest';
  return [...list]
    .sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      if (ka !== kb) {
        if (ka === null) return 1;
        if (kb === null) return -1;
        return (ka < kb ? -1 : 1) * (descending ? -1 : 1);
      }
      return (a.id - b.id) * (descending ? -1 : 1);
    })
    .map((r) => r.id);
}

describe('GET /v1/listings: where and pagination', () => {
  it('has data that proves something: both sources, inside and outside the bbox', () => {
    expect(rows.length).toBe(21_597 + 3000);
    const inside = rows.filter(inBbox);
    expect(inside.length).toBeGreaterThan(1000);
    expect(inside.some((r) => r.list_price !== null)).toBe(true);
    expect(inside.some((r) => r.listing_contract_date === null)).toBe(true);
  });

  it.each(['price', '-price', 'listed', '-listed'])(
    'pages through a bbox sorted by %s in exactly the order of an independent sort, no duplicates, no gaps',
    async (sort) => {
      const { ids, pages } = await allPages(`bbox=${bboxParam}&sort=${sort}`, 173);
      expect(pages).toBeGreaterThan(3);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(sorted(rows.filter(inBbox), sort));
    },
  );

  it('pages through a bbox with no sort, most recently added first', async () => {
    const { ids } = await allPages(`bbox=${bboxParam}`, 500);
    expect(ids).toEqual(sorted(rows.filter(inBbox), 'newest'));
  });

  it('pages through the whole table with no where, by price', async () => {
    const { ids } = await allPages('sort=-price&status=Active', 500);
    expect(ids).toEqual(
      sorted(
        rows.filter((r) => r.standard_status === 'Active'),
        '-price',
      ),
    );
  });

  it('pages a circle nearest first exactly like a brute-force distance sort, with distance_m', async () => {
    const [lon, lat, radius] = [-122.3, 47.62, 2500];
    const expected = await f.db.rows<{ id: number; d: number }>(sql`
      SELECT id::float8 AS id, d FROM (
        SELECT id, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(${lon}::float8, ${lat}::float8), 4326)::geography) AS d
        FROM listings) x
      WHERE d <= ${radius}::float8 ORDER BY d, id`);
    expect(expected.length).toBeGreaterThan(300);
    const { ids } = await allPages(`near=${lon},${lat}&radius=${radius}`, 97);
    expect(ids).toEqual(expected.map((e) => e.id));

    const first = await get(`/v1/listings?near=${lon},${lat}&radius=${radius}&limit=5`);
    expect(first.items.map((i) => i.distance_m)).toEqual(expected.slice(0, 5).map((e) => e.d));
  });

  it('sorts a circle by price too, and still gives each distance', async () => {
    const page = await get('/v1/listings?near=-122.3,47.62&radius=800&sort=price&limit=500');
    expect(page.items.length).toBeGreaterThan(20);
    for (const item of page.items) expect(item.distance_m).toBeLessThanOrEqual(800);
    const keys = page.items.map((i) => i.close_price ?? i.list_price ?? Number.POSITIVE_INFINITY);
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
  });

  it('stays exact when listings are inserted between pages: every original once, nothing twice', async () => {
    const query = `bbox=${bboxParam}&sort=price`;
    const original = sorted(rows.filter(inBbox), 'price');
    const first = await get(`/v1/listings?${query}&limit=100`);
    const lastPrice = first.items.at(-1)?.close_price as number;
    // 40 new listings inside the bbox: half cheaper than the cursor (before it), half dearer.
    await f.db.rows(sql`
      INSERT INTO listings (source_id, source_key, standard_status, close_price, geom)
      SELECT (SELECT id FROM etl_sources WHERE name = 'king-county'), 'inserted-' || i, 'Closed',
             CASE WHEN i % 2 = 0 THEN ${lastPrice}::numeric - 1000 ELSE ${lastPrice}::numeric + i END,
             ST_SetSRID(ST_MakePoint(-122.3, 47.6), 4326)
      FROM generate_series(1, 40) i`);
    try {
      const ids = first.items.map((i) => i.id);
      let cursor = first.next_cursor;
      while (cursor) {
        const page = await get(
          `/v1/listings?${query}&limit=100&cursor=${encodeURIComponent(cursor)}`,
        );
        ids.push(...page.items.map((i) => i.id));
        cursor = page.next_cursor;
      }
      expect(new Set(ids).size).toBe(ids.length);
      const seen = new Set(ids);
      expect(original.filter((id) => !seen.has(id))).toEqual([]);
      // The dearer 20 lie after the cursor and are found; the cheaper 20 lie behind it.
      expect(ids.length).toBe(original.length + 20);
    } finally {
      await f.db.rows(sql`DELETE FROM listings WHERE source_key LIKE 'inserted-%'`);
    }
  });
});

describe('GET /v1/listings: filters', () => {
  const cases: [string, (r: Row) => boolean][] = [
    ['status=Active,Pending', (r) => ['Active', 'Pending'].includes(r.standard_status)],
    ['status=Closed', (r) => r.standard_status === 'Closed'],
    ['type=Condominium', (r) => r.property_type === 'Condominium'],
    ['type=Land, Townhouse', (r) => r.property_type === 'Land' || r.property_type === 'Townhouse'],
    ['price_min=500000', (r) => (price(r) ?? -1) >= 500_000],
    ['price_max=300000.5', (r) => price(r) !== null && (price(r) as number) <= 300_000.5],
    [
      'price_min=400000&price_max=450000',
      (r) =>
        price(r) !== null && (price(r) as number) >= 400_000 && (price(r) as number) <= 450_000,
    ],
    ['beds_min=4', (r) => (r.bedrooms_total ?? -1) >= 4],
    ['baths_min=2.5', (r) => (r.bathrooms_total ?? -1) >= 2.5],
    [
      'sqft_min=1500&sqft_max=2000',
      (r) => r.living_area !== null && r.living_area >= 1500 && r.living_area <= 2000,
    ],
    ['year_min=2000', (r) => (r.year_built ?? -1) >= 2000],
    [
      'listed_since=2022-01-01',
      (r) => r.listing_contract_date !== null && r.listing_contract_date >= '2022-01-01',
    ],
    ['closed_since=2015-03-01', (r) => r.close_date !== null && r.close_date >= '2015-03-01'],
    [
      'status=Closed&type=Residential&price_max=600000&beds_min=3&year_min=1960&closed_since=2014-09-01',
      (r) =>
        r.standard_status === 'Closed' &&
        r.property_type === 'Residential' &&
        price(r) !== null &&
        (price(r) as number) <= 600_000 &&
        (r.bedrooms_total ?? -1) >= 3 &&
        (r.year_built ?? -1) >= 1960 &&
        r.close_date !== null &&
        r.close_date >= '2014-09-01',
    ],
  ];

  it.each(cases)(
    '?%s inside the bbox matches an independent filter of the table',
    async (query, predicate) => {
      const expected = rows.filter((r) => inBbox(r) && predicate(r));
      expect(expected.length).toBeGreaterThan(0);
      const { ids } = await allPages(`bbox=${bboxParam}&${query}&sort=-price`, 500);
      expect(ids).toEqual(sorted(expected, '-price'));
    },
  );

  it.each(cases.slice(0, 4))(
    '?%s with no where matches over the whole table',
    async (query, predicate) => {
      const { ids } = await allPages(`${query}&sort=listed`, 500);
      expect(ids).toEqual(sorted(rows.filter(predicate), 'listed'));
    },
  );

  it('treats a property type with quotes as a plain value, not SQL', async () => {
    const page = await get(
      `/v1/listings?bbox=${bboxParam}&type=${encodeURIComponent("Land' OR 'x")}`,
    );
    expect(page).toEqual({ items: [], next_cursor: null });
    const unicode = await get(`/v1/listings?type=${encodeURIComponent('Résidence (maison)')}`);
    expect(unicode.items).toEqual([]);
  });

  it('searches an area by id (and a missing area is a 400 naming area)', async () => {
    const [area] = await f.db.rows<{ id: number }>(sql`
      INSERT INTO areas (slug, name, kind, geom)
      VALUES ('test-box', 'Test box', 'custom',
              ST_Multi(ST_MakeEnvelope(${BBOX[0]}, ${BBOX[1]}, ${BBOX[2]}, ${BBOX[3]}, 4326)))
      RETURNING id`);
    const { ids } = await allPages(`area=${area?.id}&sort=price`, 500);
    expect(ids).toEqual(sorted(rows.filter(inBbox), 'price'));
    const body = await expectProblem(await f.app.request('/v1/listings?area=999999'), 400);
    expect(body.detail).toContain('area');
  });
});

describe('GET /v1/listings: GeoJSON', () => {
  it.each([
    ['format=geojson', {}],
    ['', { headers: { Accept: 'application/geo+json' } }],
    ['', { headers: { Accept: 'text/html, application/geo+json;q=0.9' } }],
  ])('answers ?%s %o with a valid RFC 7946 FeatureCollection', async (query, init) => {
    const json = await get(`/v1/listings?bbox=${bboxParam}&sort=price&limit=20`);
    const response = await f.app.request(
      `/v1/listings?bbox=${bboxParam}&sort=price&limit=20&${query}`,
      init,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/geo\+json/);
    expect(response.headers.get('vary')).toContain('Accept');
    const body = (await response.json()) as {
      type: string;
      next_cursor: string;
      features: {
        type: string;
        id: number;
        geometry: { type: string; coordinates: number[] };
        properties: Record<string, unknown>;
      }[];
    };
    expect(body.type).toBe('FeatureCollection');
    expect(body.features).toHaveLength(20);
    json.items.forEach((item, n) => {
      const feature = body.features[n];
      const { longitude, latitude, ...properties } = item;
      expect(feature).toEqual({
        type: 'Feature',
        id: item.id,
        geometry: { type: 'Point', coordinates: [longitude, latitude] },
        properties,
      });
      // [lon, lat]: Seattle's longitude is the negative one.
      const [x, y] = feature?.geometry.coordinates ?? [];
      expect(x).toBeLessThan(-122);
      expect(y).toBeGreaterThan(47);
    });
    // The GeoJSON pages go on with the same cursor as the JSON ones.
    const next = await get(
      `/v1/listings?bbox=${bboxParam}&sort=price&limit=20&cursor=${encodeURIComponent(body.next_cursor)}`,
    );
    expect(next.items[0]?.id).toBe(sorted(rows.filter(inBbox), 'price')[20]);
  });

  it('answers JSON when format=json overrides the Accept header, or q=0 refuses GeoJSON', async () => {
    for (const [query, accept] of [
      ['format=json', 'application/geo+json'],
      ['', 'application/geo+json;q=0, application/json'],
    ]) {
      const response = await f.app.request(`/v1/listings?limit=1&${query}`, {
        headers: { Accept: accept as string },
      });
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(Object.keys((await response.json()) as object)).toEqual(['items', 'next_cursor']);
    }
  });
});

describe('GET /v1/listings: bad input', () => {
  const page1 = async (query: string) =>
    (await get(`/v1/listings?${query}&limit=2`)).next_cursor as string;

  it('refuses a 100 KB unknown parameter name with a short 400', async () => {
    const body = await expectProblem(
      await f.app.request(`/v1/listings?${'x'.repeat(100_000)}=1`),
      400,
    );
    expect(body.detail).toContain('unknown query parameter');
  });

  it.each([
    ['colour=red', 'colour'],
    ['bbox=1,2,3', 'bbox'],
    ['bbox=a,b,c,d', 'bbox'],
    ['bbox=NaN,47,-122,48', 'bbox'],
    ['bbox=-122,47,-123,48', 'bbox'],
    ['bbox=-122,48,-121,47', 'bbox'],
    ['bbox=-200,47,-122,48', 'bbox'],
    ['bbox=-122,-95,-121,48', 'bbox'],
    ['near=-122.3', 'near'],
    ['near=-122.3,95', 'near'],
    ['near=-122.3,47.6&radius=50001', 'radius'],
    ['near=-122.3,47.6&radius=NaN', 'radius'],
    ['near=-122.3,47.6&radius=-5', 'radius'],
    ['radius=100', 'radius'],
    ['area=0', 'area'],
    ['area=1.5', 'area'],
    [`bbox=${bboxParam}&near=-122.3,47.6`, 'bbox,near'],
    ['status=Sold', 'status'],
    ['status=', 'status'],
    ['type=', 'type'],
    [`type=${Array.from({ length: 21 }, (_, n) => `t${n}`).join(',')}`, 'type'],
    ['price_min=NaN', 'price_min'],
    ['price_min=', 'price_min'],
    ['price_min=0x10', 'price_min'],
    ['price_min=Infinity', 'price_min'],
    ['price_min=-1', 'price_min'],
    ['price_min=5&price_max=4', 'price_min'],
    ['price_max=1e13', 'price_max'],
    ['beds_min=2.5', 'beds_min'],
    ['beds_min=101', 'beds_min'],
    ['baths_min=abc', 'baths_min'],
    ['sqft_min=10&sqft_max=5', 'sqft_min'],
    ['sqft_max=-1', 'sqft_max'],
    ['year_min=99', 'year_min'],
    ['listed_since=2024-02-30', 'listed_since'],
    ['listed_since=yesterday', 'listed_since'],
    ['closed_since=2024-13-01', 'closed_since'],
    ['sort=cheapest', 'sort'],
    ['sort=distance', 'sort'],
    [`bbox=${bboxParam}&sort=distance`, 'sort'],
    ['limit=10000', 'limit'],
    ['limit=0', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=', 'limit'],
    ['limit=2&limit=3', 'limit'],
    ['format=xml', 'format'],
    ['cursor=abc', 'cursor'],
    ['cursor=', 'cursor'],
  ])('refuses ?%s with a 400 problem naming %s', async (query, name) => {
    const body = await expectProblem(await f.app.request(`/v1/listings?${query}`), 400);
    expect(body.detail).toContain(name);
  });

  const params = [
    'bbox',
    'near',
    'radius',
    'area',
    'status',
    'type',
    'price_min',
    'price_max',
    'beds_min',
    'baths_min',
    'sqft_min',
    'sqft_max',
    'year_min',
    'listed_since',
    'closed_since',
    'sort',
    'limit',
    'cursor',
    'format',
  ];
  const hostile = [
    "1' OR '1'='1",
    '1);DROP TABLE listings;--',
    '1 UNION SELECT * FROM pg_user',
    '$1::text',
    '\u0000',
    '日本',
  ];

  it.each(params)(
    'refuses SQL, control characters and unicode in %s with a 400 naming it, data untouched',
    async (name) => {
      // Property types are free text: unicode letters are fine there (tested above).
      for (const value of hostile.filter((v) => name !== 'type' || v !== '日本')) {
        const extra = name === 'radius' ? '&near=-122.3,47.6' : '';
        const body = await expectProblem(
          await f.app.request(`/v1/listings?${name}=${encodeURIComponent(value)}${extra}`),
          400,
        );
        expect(body.detail).toContain(name);
      }
      const [count] = await f.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM listings`);
      expect(count?.n).toBe(rows.length);
    },
  );

  it.each(params)('refuses a 10 KB %s with a short 400 naming it', async (name) => {
    const body = await expectProblem(
      await f.app.request(`/v1/listings?${name}=${'9,'.repeat(5000)}`),
      400,
    );
    expect(body.detail).toContain(name);
  });

  it('refuses a tampered cursor, naming cursor', async () => {
    const cursor = await page1(`bbox=${bboxParam}&sort=price`);
    const [body, tag] = cursor.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as unknown[];
    payload[2] = '0';
    const forged = `${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${tag}`;
    for (const bad of [forged, `${cursor.slice(0, -2)}AA`, `${body}.`, `${cursor}.x`]) {
      const problem = await expectProblem(
        await f.app.request(
          `/v1/listings?bbox=${bboxParam}&sort=price&cursor=${encodeURIComponent(bad)}`,
        ),
        400,
      );
      expect(problem.detail).toMatch(/^cursor: /);
    }
  });

  it('refuses a cursor signed with another secret', async () => {
    const other = createCursorCodec('another-secret-of-32-characters!').encode({
      sort: 'price',
      search: 'x',
      key: '1',
      id: 1,
    });
    const problem = await expectProblem(
      await f.app.request(`/v1/listings?sort=price&cursor=${other}`),
      400,
    );
    expect(problem.detail).toContain('cursor');
  });

  it('refuses a cursor from another sort or another search, saying which', async () => {
    const cursor = encodeURIComponent(await page1(`bbox=${bboxParam}&sort=price`));
    const sortChanged = await expectProblem(
      await f.app.request(`/v1/listings?bbox=${bboxParam}&sort=-price&cursor=${cursor}`),
      400,
    );
    expect(sortChanged.detail).toContain(
      'cursor: the cursor was made for sort=price, not sort=-price',
    );
    const searchChanged = await expectProblem(
      await f.app.request(
        `/v1/listings?bbox=${bboxParam}&sort=price&status=Active&cursor=${cursor}`,
      ),
      400,
    );
    expect(searchChanged.detail).toContain('another search');
    // The limit may change between pages.
    expect(
      (await get(`/v1/listings?bbox=${bboxParam}&sort=price&limit=7&cursor=${cursor}`)).items,
    ).toHaveLength(7);
  });
});

describe('GET /v1/listings: rotating CURSOR_SECRET', () => {
  const OLD = 'the-old-cursor-secret-of-32-chars!';
  const NEW = 'the-new-cursor-secret-of-32-chars!';
  const appWith = (cursorSecret: string, cursorPreviousSecret?: string) =>
    createApp({ db: f.db, logger: createLogger('silent'), cursorSecret, cursorPreviousSecret });
  const query = `bbox=${bboxParam}&sort=price&limit=5`;

  it('continues a cursor of the previous secret beside the new one, and refuses it (400) once it is gone', async () => {
    const first = (await (await appWith(OLD).request(`/v1/listings?${query}`)).json()) as Page;
    const cursor = encodeURIComponent(first.next_cursor ?? '');
    const expected = (await (
      await appWith(OLD).request(`/v1/listings?${query}&cursor=${cursor}`)
    ).json()) as Page;
    expect(expected.items).toHaveLength(5);

    const rotating = await appWith(NEW, OLD).request(`/v1/listings?${query}&cursor=${cursor}`);
    expect(rotating.status).toBe(200);
    const page = (await rotating.json()) as Page;
    expect(page.items.map((i) => i.id)).toEqual(expected.items.map((i) => i.id));
    // The next cursor is the new secret's: it works once the previous one is removed.
    const next = encodeURIComponent(page.next_cursor ?? '');
    expect((await appWith(NEW).request(`/v1/listings?${query}&cursor=${next}`)).status).toBe(200);

    const problem = await expectProblem(
      await appWith(NEW).request(`/v1/listings?${query}&cursor=${cursor}`),
      400,
    );
    expect(problem.detail).toMatch(/^cursor: the cursor was altered or made by another server/);
  });
});

describe('GET /v1/listings: plans', () => {
  it('gathers a bbox through the GiST index, never the price index, when sorting by price', async () => {
    f.captured.length = 0;
    await get('/v1/listings?bbox=-122.33,47.6,-122.3,47.62&sort=-price&limit=50');
    const plan = await explain(f.db, f.captured.at(-1) as never);
    expect(plan).toContain('listings_geom_gist');
    expect(plan).not.toMatch(/price_idx|Seq Scan on listings/);
  });

  it('walks the GiST index in KNN order for a nearest-first search, then rechecks by exact distance', async () => {
    f.captured.length = 0;
    await get('/v1/listings?near=-122.3,47.62&radius=5000&limit=50');
    const plan = await explain(f.db, f.captured.at(-1) as never);
    expect(plan).toMatch(
      /Index Scan using listings_geom_gist on listings[^\n]*\n(?:[^\n]*\n)*?\s*Order By: \(geom <-> /,
    );
    expect(plan).toContain('st_distance');
    expect(plan).not.toContain('Seq Scan on listings');
  });

  it('documents the route with every parameter in /openapi.json', async () => {
    const doc = (await (await f.app.request('/openapi.json')).json()) as {
      paths: Record<string, { get: { parameters: { name: string }[] } }>;
    };
    const names = doc.paths['/v1/listings']?.get.parameters.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'bbox',
        'near',
        'radius',
        'area',
        'status',
        'type',
        'price_min',
        'sort',
        'limit',
        'cursor',
        'format',
      ]),
    );
    expect(doc.paths['/v1/listings/{id}']).toBeDefined();
    expect(doc.paths['/v1/listings/{id}/comps']).toBeDefined();
  });
});
