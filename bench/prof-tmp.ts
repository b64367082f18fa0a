import { sql } from 'drizzle-orm';
import { openDatabase } from '../origin/db/database.js';
import { migrate } from '../origin/db/migrate.js';
import { runSource } from '../origin/etl/run.js';
import { upsertSource } from '../origin/etl/sources.js';
import { syntheticSource, writeSyntheticCsv } from './synthetic.js';

const n = Number(process.argv[2] ?? 200000);
const path = `/tmp/syn-${n}.csv`;
const fs = await import('node:fs');
if (!fs.existsSync(path)) await writeSyntheticCsv(path, n);
if (!fs.existsSync(`${path}.chg`)) await writeSyntheticCsv(`${path}.chg`, n, 0.1);
const db = await openDatabase({ url: process.env.DATABASE_URL, dataDir: '' });
await migrate(db);
await db.rows(sql`TRUNCATE listings, listing_history CASCADE`);
await upsertSource(db, syntheticSource(path));
let t = performance.now();
let s = await runSource(db, 'synthetic');
console.log(
  'fresh',
  s.status,
  s.error ?? '',
  s.rowsInserted,
  s.timings,
  Math.round(n / ((performance.now() - t) / 1000)),
  'rows/s rss',
  Math.round(process.memoryUsage().rss / 1e6),
);
t = performance.now();
s = await runSource(db, 'synthetic', { location: `${path}.chg` });
console.log(
  'rerun',
  s.status,
  s.error ?? '',
  s.rowsUpdated,
  s.rowsUnchanged,
  s.timings,
  Math.round(n / ((performance.now() - t) / 1000)),
  'rows/s rss',
  Math.round(process.memoryUsage().rss / 1e6),
);
await db.close();
