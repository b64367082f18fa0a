/**
 * The origin under test, in a process of its own (started by bench/api/main.ts, and twice by
 * bench/edge/main.ts): the real app (`createApp`) served as origin/index.ts serves it (`serveApp`),
 * on a random port of 127.0.0.1 only. It logs one JSON line per request at `info`, as the origin
 * does by default; the parent discards them. With EDGE_ASSERTION_SECRET set it refuses what the
 * edge did not sign, as in production; without it, it is the origin called directly.
 *
 *   DATABASE_URL=postgres://… [EDGE_ASSERTION_SECRET=…] [BENCH_POOL_MAX=10] node --import tsx bench/lib/origin-server.ts
 *
 * Announces `{ port }` over IPC once listening; stops on SIGTERM or when the parent goes away.
 */
import type { AddressInfo } from 'node:net';
import { createApp } from '../../origin/app.js';
import { openDatabase } from '../../origin/db/database.js';
import { serveApp } from '../../origin/http/node-server.js';
import { createLogger } from '../../origin/logger.js';
import { announceReady } from './children.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is required');
const poolMax = Number(process.env.BENCH_POOL_MAX ?? '10');

const db = await openDatabase({ url, dataDir: '', poolMax });
const app = createApp({
  db,
  logger: createLogger(process.env.BENCH_LOG_LEVEL ?? 'info'),
  edgeAssertionSecret: process.env.EDGE_ASSERTION_SECRET || undefined,
});
const server = serveApp(app.fetch, { hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
  announceReady({ port: info.port }),
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Keep-alive sockets from the load generator (or the Worker) would hold close() open.
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await db.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.once('disconnect', () => void stop());
