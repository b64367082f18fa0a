import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { ConflictError, InvalidParameterError } from '../errors.js';
import { MAX_VERTICES_PER_FEATURE } from './geojson.js';
import { AreaValidationError, loadAreasFromGeoJSON, slugify } from './load.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

/** A closed square ring with its south-west corner at (lon, lat). */
function square(lon: number, lat: number, size = 0.01): number[][] {
  return [
    [lon, lat],
    [lon + size, lat],
    [lon + size, lat + size],
    [lon, lat + size],
    [lon, lat],
  ];
}

function feature(name: unknown, geometry: unknown, extra: Record<string, unknown> = {}) {
  return { type: 'Feature', properties: { name, ...extra }, geometry };
}

function collection(...features: unknown[]) {
  return { type: 'FeatureCollection', features };
}

async function stored(kind: string) {
  return t.db.rows<{
    id: number;
    slug: string;
    name: string;
    type: string;
    valid: boolean;
    area: number;
    properties: Record<string, unknown>;
  }>(sql`
    SELECT id, slug, name, GeometryType(geom) AS type, ST_IsValid(geom) AS valid, ST_Area(geom) AS area, properties
    FROM areas WHERE kind = ${kind} ORDER BY id`);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the load to be refused');
}

describe('loadAreasFromGeoJSON', () => {
  it('stores a Polygon as a MultiPolygon with its name, slug and properties', async () => {
    const result = await loadAreasFromGeoJSON(
      t.db,
      collection(
        feature(
          'Capitol Hill',
          { type: 'Polygon', coordinates: [square(-122.32, 47.61)] },
          { pop: 1 },
        ),
        feature('Fremont', {
          type: 'MultiPolygon',
          coordinates: [[square(-122.35, 47.65)], [square(-122.36, 47.66)]],
        }),
      ),
      { kind: 'hood' },
    );
    expect(result.ids).toHaveLength(2);
    expect(result.repaired).toEqual([]);
    const rows = await stored('hood');
    expect(rows.map((r) => [r.id, r.slug, r.name, r.type, r.valid])).toEqual([
      [result.ids[0], 'hood-capitol-hill', 'Capitol Hill', 'MULTIPOLYGON', true],
      [result.ids[1], 'hood-fremont', 'Fremont', 'MULTIPOLYGON', true],
    ]);
    expect(rows[0]?.properties).toEqual({ name: 'Capitol Hill', pop: 1 });
    expect(rows[0]?.area).toBeCloseTo(0.0001, 8);
    expect(rows[1]?.area).toBeCloseTo(0.0002, 8);
  });

  it('takes the name and slug from the properties it is told to, numbers included', async () => {
    const result = await loadAreasFromGeoJSON(
      t.db,
      collection(
        feature(
          undefined,
          { type: 'Polygon', coordinates: [square(-122.3, 47.5)] },
          { ZCTA5CE10: 98103, GEOID: 'US-98103' },
        ),
      ),
      { kind: 'zip', nameProperty: 'ZCTA5CE10', slugProperty: 'GEOID' },
    );
    const [row] = await t.db.rows<{ slug: string; name: string }>(
      sql`SELECT slug, name FROM areas WHERE id = ${result.ids[0]}`,
    );
    expect(row).toEqual({ slug: 'us-98103', name: '98103' });
  });

  it('repairs a self-intersecting bow-tie into valid polygons and says which feature it repaired', async () => {
    const bowtie = [
      [0, 0],
      [1, 1],
      [1, 0],
      [0, 1],
      [0, 0],
    ].map(([x, y]) => [-100 + (x as number) * 0.01, 40 + (y as number) * 0.01]);
    const result = await loadAreasFromGeoJSON(
      t.db,
      collection(
        feature('fine', { type: 'Polygon', coordinates: [square(-100.5, 40)] }),
        feature('bowtie', { type: 'Polygon', coordinates: [bowtie] }),
      ),
      { kind: 'repair' },
    );
    expect(result.repaired).toEqual([1]);
    const rows = await stored('repair');
    expect(rows.every((r) => r.valid && r.type === 'MULTIPOLYGON')).toBe(true);
    // Two triangles of a quarter of the square each.
    expect(rows[1]?.area).toBeCloseTo(0.00005, 9);
  });

  it('drops an altitude and accepts a ring with a hole', async () => {
    const outer = square(-90, 35, 0.1).map(([x, y]) => [x as number, y as number, 12.5]);
    const hole = square(-89.97, 35.03, 0.02).reverse();
    const result = await loadAreasFromGeoJSON(
      t.db,
      collection(feature('holed', { type: 'Polygon', coordinates: [outer, hole] })),
      { kind: 'holes' },
    );
    const [row] = await t.db.rows<{ dims: number; area: number }>(
      sql`SELECT ST_NDims(geom) AS dims, ST_Area(geom) AS area FROM areas WHERE id = ${result.ids[0]}`,
    );
    expect(row?.dims).toBe(2);
    expect(row?.area).toBeCloseTo(0.01 - 0.0004, 9);
  });

  it('reports every bad feature by index and stores nothing (all-or-nothing)', async () => {
    const open = square(-100, 30)
      .slice(0, 4)
      .concat([[-99.5, 30.5]]);
    const error = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(
          feature('good', { type: 'Polygon', coordinates: [square(-100, 30)] }),
          feature('open ring', { type: 'Polygon', coordinates: [open] }),
          feature('point', { type: 'Point', coordinates: [-100, 30] }),
          feature('too few', {
            type: 'Polygon',
            coordinates: [
              [
                [-100, 30],
                [-99, 30],
                [-100, 30],
              ],
            ],
          }),
          feature('swapped', { type: 'Polygon', coordinates: [square(30, -100)] }),
          feature('strings', {
            type: 'Polygon',
            coordinates: [
              [
                ['a', 'b'],
                [1, 2],
                [3, 4],
                ['a', 'b'],
              ],
            ],
          }),
          feature('', { type: 'Polygon', coordinates: [square(-101, 30)] }),
          'not a feature',
          { type: 'Feature', properties: { name: 'no geometry' }, geometry: null },
          feature('good', { type: 'Polygon', coordinates: [square(-102, 30)] }),
          feature('NaN-ish', {
            type: 'Polygon',
            coordinates: [
              [
                [-100, 30],
                [Number.POSITIVE_INFINITY, 30],
                [-99, 31],
                [-100, 30],
              ],
            ],
          }),
        ),
        { kind: 'bad' },
      ),
    );
    expect(error).toBeInstanceOf(AreaValidationError);
    const problems = (error as AreaValidationError).problems;
    expect(problems.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const reason = (i: number) => problems.find((p) => p.index === i)?.reason ?? '';
    expect(reason(1)).toMatch(/not closed/);
    expect(reason(2)).toMatch(/Polygon or MultiPolygon.*'Point'/);
    expect(reason(3)).toMatch(/at least 4/);
    expect(reason(4)).toMatch(/outside -180\.\.180/);
    expect(reason(5)).toMatch(/\[lon, lat\] numbers/);
    expect(reason(6)).toMatch(/property 'name' is missing/);
    expect(reason(9)).toMatch(/repeats feature #0/);
    expect(reason(10)).toMatch(/\[lon, lat\] numbers/);
    expect((error as AreaValidationError).parameter).toBe('features');
    expect(await stored('bad')).toEqual([]);
  });

  it('refuses a geometry that is empty once made valid, and rolls back the good features with it', async () => {
    // A ring of four collinear points: closed, well-formed, and no area at all.
    const flat = [
      [-80, 30],
      [-79.9, 30],
      [-79.8, 30],
      [-80, 30],
    ];
    const error = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(
          feature('good', { type: 'Polygon', coordinates: [square(-81, 30)] }),
          feature('flat', { type: 'Polygon', coordinates: [flat] }),
        ),
        { kind: 'flat' },
      ),
    );
    expect(error).toBeInstanceOf(AreaValidationError);
    expect((error as AreaValidationError).problems).toEqual([
      { index: 1, reason: expect.stringMatching(/no area once made valid/) },
    ]);
    expect(await stored('flat')).toEqual([]);
  });

  it('refuses a feature over the vertex cap without touching the others', async () => {
    const n = MAX_VERTICES_PER_FEATURE + 1;
    const ring: number[][] = [];
    for (let i = 0; i < n - 1; i++) {
      const a = (2 * Math.PI * i) / (n - 1);
      ring.push([-70 + 0.1 * Math.cos(a), 40 + 0.1 * Math.sin(a)]);
    }
    ring.push(ring[0] as number[]);
    const error = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(feature('huge', { type: 'Polygon', coordinates: [ring] })),
        { kind: 'huge' },
      ),
    );
    expect((error as AreaValidationError).problems).toEqual([
      { index: 0, reason: expect.stringMatching(/more than 100000 vertices/) },
    ]);
  });

  it('stores hostile names as plain text and slugs them safely', async () => {
    const names = ["Robert'); DROP TABLE areas;--", 'Zürich Süd', '東京', 'x'.repeat(200)];
    const result = await loadAreasFromGeoJSON(
      t.db,
      collection(
        ...names.map((n, i) => feature(n, { type: 'Polygon', coordinates: [square(-60 - i, 10)] })),
      ),
      { kind: 'hostile' },
    );
    const rows = await stored('hostile');
    expect(rows.map((r) => r.name)).toEqual(names);
    expect(rows.map((r) => r.slug)).toEqual([
      'hostile-robert-drop-table-areas',
      'hostile-zurich-sud',
      'hostile-2',
      `hostile-${'x'.repeat(92)}`,
    ]);
    expect(rows.every((r) => /^[a-z0-9-]{1,100}$/.test(r.slug))).toBe(true);
    expect(result.ids).toHaveLength(4);
    const [still] = await t.db.rows<{ n: number }>(sql`SELECT count(*)::int AS n FROM areas`);
    expect(still?.n).toBeGreaterThan(4);
  });

  it('refuses a name over 200 characters, a bad kind and a document that is not a FeatureCollection', async () => {
    const long = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(feature('y'.repeat(10_000), { type: 'Polygon', coordinates: [square(0, 0)] })),
        { kind: 'long' },
      ),
    );
    expect((long as AreaValidationError).problems[0]?.reason).toMatch(/over 200 characters/);
    for (const kind of ['', 'Zip', 'a b', "x'--", 'k'.repeat(41)]) {
      const error = await rejection(loadAreasFromGeoJSON(t.db, collection(), { kind }));
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).parameter).toBe('kind');
    }
    for (const document of [
      null,
      42,
      'text',
      [],
      { type: 'Feature' },
      { type: 'FeatureCollection' },
      { type: 'FeatureCollection', features: {} },
    ]) {
      const error = await rejection(loadAreasFromGeoJSON(t.db, document, { kind: 'doc' }));
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).parameter).toBe('features');
    }
    const empty = await rejection(loadAreasFromGeoJSON(t.db, collection(), { kind: 'doc' }));
    expect(empty.message).toMatch(/no features/);
  });

  it('refuses a slug that exists, and with replace updates in place and deletes what the file dropped', async () => {
    const first = await loadAreasFromGeoJSON(
      t.db,
      collection(
        feature('A', { type: 'Polygon', coordinates: [square(-50, 10)] }),
        feature('B', { type: 'Polygon', coordinates: [square(-51, 10)] }),
      ),
      { kind: 'rep' },
    );
    const again = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(feature('A', { type: 'Polygon', coordinates: [square(-52, 10)] })),
        { kind: 'rep' },
      ),
    );
    expect(again).toBeInstanceOf(ConflictError);
    expect(again.message).toMatch(/'rep-a'/);

    const replaced = await loadAreasFromGeoJSON(
      t.db,
      collection(
        feature('A', { type: 'Polygon', coordinates: [square(-52, 10, 0.02)] }),
        feature('C', { type: 'Polygon', coordinates: [square(-53, 10)] }),
      ),
      { kind: 'rep', replace: true },
    );
    expect(replaced.ids[0]).toBe(first.ids[0]);
    expect(replaced.deleted).toBe(1);
    const rows = await stored('rep');
    expect(rows.map((r) => r.slug)).toEqual(['rep-a', 'rep-c']);
    expect(rows[0]?.area).toBeCloseTo(0.0004, 9);

    // Another kind's area is never overwritten, even with replace.
    const other = await rejection(
      loadAreasFromGeoJSON(
        t.db,
        collection(feature('A', { type: 'Polygon', coordinates: [square(0, 0)] }, { s: 'rep-a' })),
        {
          kind: 'other',
          slugProperty: 's',
          replace: true,
        },
      ),
    );
    expect(other).toBeInstanceOf(ConflictError);
    expect(other.message).toMatch(/another kind/);
  });
});

describe('slugify', () => {
  it('makes lowercase ASCII slugs with single dashes', () => {
    expect(slugify('  Capitol  Hill / North!! ')).toBe('capitol-hill-north');
    expect(slugify('Ñandú')).toBe('nandu');
    expect(slugify('---')).toBe('');
  });
});
