import { sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/db.js';
import { declareShippedSources } from '../../bootstrap.js';
import { runSource } from '../../etl/run.js';
import { tileOf } from './mvt-test-support.js';
import { listingsTile, tileHitsSql } from './tile.js';

it('explains', async () => {
  const t = await createTestDatabase();
  await declareShippedSources(t.db);
  await runSource(t.db, 'king-county');
  await t.db.rows(sql`ANALYZE listings`);
  for (const zoom of [8, 10, 12, 14]) {
    const a = tileOf(-122.3, 47.6, zoom);
    const rows = await t.db.rows<{ 'QUERY PLAN': string }>(
      sql`EXPLAIN (ANALYZE, COSTS OFF) ${tileHitsSql(a, 10000)}`,
    );
    console.log(`z${zoom}\n` + rows.map((r) => r['QUERY PLAN']).join('\n'));
    for (let i = 0; i < 3; i++) await listingsTile(t.db, a);
    const t0 = performance.now();
    let tile;
    for (let i = 0; i < 10; i++) tile = await listingsTile(t.db, a);
    console.log(
      `z${zoom}: ${((performance.now() - t0) / 10).toFixed(1)} ms, ${tile?.features} features, ${tile?.bytes.byteLength} bytes`,
    );
  }
  await t.drop();
  expect(1).toBe(1);
});
