import { spawnSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { declare, feedSource, fixture, HEADER } from '../../test/support/etl.js';
import { projectRoot } from '../etl/fetch-input.js';
import { runSource } from '../etl/run.js';
import { MAX_FILE_BYTES } from './geojson.js';

/** The operator's command, run the way they run it (`npm run areas -- ...`), against a real database. */
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  // Six listings in one postal code, spread over a few hundred metres: enough for a derived area.
  const rows = [0, 1, 2, 3, 4, 5].map(
    (i) =>
      `Z${i},S,${500_000 + i},3,a,2024-01-0${i + 1},${47.6 + (i % 3) * 0.002},${-122.3 - Math.floor(i / 3) * 0.003}`,
  );
  await declare(
    t.db,
    feedSource('zips', fixture(`${HEADER},zip\n${rows.map((r) => `${r},98101`).join('\n')}\n`), {
      fields: { ...feedSource('x', '').mapping.fields, postal_code: 'zip' },
    }),
  );
  await runSource(t.db, 'zips');
});
afterAll(async () => {
  await t.drop();
});

function areas(...args: string[]) {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(projectRoot, 'origin/areas/cli.ts'), ...args],
    {
      env: { ...process.env, DATABASE_URL: t.url, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const square = [
  [-122.31, 47.59],
  [-122.29, 47.59],
  [-122.29, 47.61],
  [-122.31, 47.61],
  [-122.31, 47.59],
];

describe('npm run areas', () => {
  it('loads a file with the name property it is told, and refuses a bad one listing every bad feature', async () => {
    const good = fixture(
      JSON.stringify({
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { ZCTA5CE10: '98101' },
            geometry: { type: 'Polygon', coordinates: [square] },
          },
        ],
      }),
      'geojson',
    );
    const ok = areas('load', good, '--kind', 'zip', '--name-property', 'ZCTA5CE10');
    expect(ok.err).toBe('');
    expect(ok.out).toMatch(/loaded 1 area\(s\) of kind 'zip'/);
    expect(ok.code).toBe(0);
    const [row] = await t.db.rows<{ slug: string; type: string }>(
      sql`SELECT slug, GeometryType(geom) AS type FROM areas WHERE kind = 'zip'`,
    );
    expect(row).toEqual({ slug: 'zip-98101', type: 'MULTIPOLYGON' });

    const bad = fixture(
      JSON.stringify({
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { name: 'a' },
            geometry: { type: 'Polygon', coordinates: [square.slice(0, 3)] },
          },
          { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [square] } },
        ],
      }),
      'geojson',
    );
    const refused = areas('load', bad, '--kind', 'hood');
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/2 bad feature\(s\); nothing was stored/);
    expect(refused.err).toMatch(/feature #0: .*at least 4/);
    expect(refused.err).toMatch(/feature #1: property 'name' is missing/);
  });

  it('derives approximate ZIP areas from the listings', async () => {
    const { code, out } = areas('derive-zips');
    expect(code).toBe(0);
    expect(out).toMatch(/derived 1 APPROXIMATE ZIP area\(s\)/);
    const [row] = await t.db.rows<{ name: string; inside: number }>(sql`
      SELECT a.name, (SELECT count(*) FROM listings l WHERE ST_Covers(a.geom, l.geom))::int AS inside
      FROM areas a WHERE kind = 'zip-derived'`);
    expect(row).toEqual({ name: 'ZIP 98101 (derived from listings)', inside: 6 });
  });

  it('exits 2 on usage errors and 1 on a file that is too big or not JSON', () => {
    expect(areas('frobnicate').code).toBe(2);
    expect(areas('load', fixture('{}', 'geojson')).code).toBe(2); // no --kind
    expect(areas('derive-zips', '--bogus').code).toBe(2);
    const notJson = areas(
      'load',
      fixture('{"type": "FeatureCollection", ', 'geojson'),
      '--kind',
      'x',
    );
    expect([notJson.code, notJson.err]).toEqual([1, expect.stringMatching(/is not JSON/)]);
    const big = fixture(Buffer.alloc(MAX_FILE_BYTES + 1, 32), 'geojson');
    const tooBig = areas('load', big, '--kind', 'x');
    unlinkSync(big);
    expect([tooBig.code, tooBig.err]).toEqual([1, expect.stringMatching(/limit is 50 MB/)]);
  });
});
