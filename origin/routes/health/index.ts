import { sql } from 'drizzle-orm';
import { migrationStatus } from '../../db/migrate.js';
import { createRouter } from '../../http/router.js';

/**
 * Liveness (`/health`: the process answers) and readiness (`/health/ready`: the database answers
 * and its schema is current). 503 only when a critical dependency is down.
 */
export const healthRoutes = createRouter()
  .get('/', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({ status: 'ok' });
  })
  .get('/ready', async (c) => {
    const { db } = c.get('deps');
    c.header('Cache-Control', 'no-store');
    const started = performance.now();
    try {
      await db.rows(sql`SELECT 1`);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      const migrations = await migrationStatus(db);
      const status = migrations.current ? 'ok' : 'degraded';
      return c.json({
        status,
        checks: { database: { status: 'up', driver: db.driver, latency_ms: latencyMs }, migrations },
      });
    } catch (error) {
      return c.json(
        { status: 'down', checks: { database: { status: 'down', error: (error as Error).message } } },
        503,
      );
    }
  });
