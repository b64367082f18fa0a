import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/db.js';
import { declare, feedSource, fixture, HEADER } from '../../test/support/etl.js';
import { createApp } from '../app.js';
import { loadAreasFromGeoJSON } from '../areas/load.js';
import { runSource } from '../etl/run.js';
import { createLogger } from '../logger.js';
import { readDataVersion } from './data-version.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.drop();
});

const feed = (price: number) =>
  fixture(
    `${HEADER}\nA1,A,${price},3,1 Main St,2024-01-02,47.6,-122.3\nA2,S,500000,2,2 Main St,2024-01-03,47.61,-122.31\n`,
  );

describe('the data version', () => {
  it('grows when an ETL run changes listings, and stays put when a run changes nothing', async () => {
    const before = await readDataVersion(t.db);
    await declare(t.db, feedSource('dv', feed(400_000)));
    expect((await runSource(t.db, 'dv')).rowsInserted).toBe(2);
    const afterInsert = await readDataVersion(t.db);
    expect(afterInsert.version).toBe(before.version + 1);
    expect(afterInsert.changedAt.getTime()).toBeGreaterThanOrEqual(before.changedAt.getTime());

    expect((await runSource(t.db, 'dv')).rowsUnchanged).toBe(2);
    expect((await readDataVersion(t.db)).version).toBe(afterInsert.version);

    await declare(t.db, feedSource('dv', feed(410_000)));
    expect((await runSource(t.db, 'dv')).rowsUpdated).toBe(1);
    expect((await readDataVersion(t.db)).version).toBe(afterInsert.version + 1);
  });

  it('does not move when a run fails and its changes roll back', async () => {
    const before = await readDataVersion(t.db);
    await declare(t.db, feedSource('dv-missing', '/nonexistent/feed.csv'));
    expect((await runSource(t.db, 'dv-missing')).status).toBe('failed');
    expect((await readDataVersion(t.db)).version).toBe(before.version);
  });

  it('grows when areas are loaded', async () => {
    const before = await readDataVersion(t.db);
    await loadAreasFromGeoJSON(
      t.db,
      {
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { name: 'Box' },
            geometry: {
              type: 'Polygon',
              coordinates: [
                [
                  [-122.4, 47.5],
                  [-122.2, 47.5],
                  [-122.2, 47.7],
                  [-122.4, 47.7],
                  [-122.4, 47.5],
                ],
              ],
            },
          },
        ],
      },
      { kind: 'test' },
    );
    expect((await readDataVersion(t.db)).version).toBe(before.version + 1);
  });

  it('is served at /health/data-version without credentials and never cached', async () => {
    const app = createApp({ db: t.db, logger: createLogger('silent') });
    const res = await app.request('/health/data-version');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { version: number; changed_at: string };
    expect(body.version).toBe((await readDataVersion(t.db)).version);
    expect(Number.isNaN(Date.parse(body.changed_at))).toBe(false);
  });
});
