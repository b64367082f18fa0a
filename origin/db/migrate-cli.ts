/** `npm run migrate`: apply pending migrations to DATABASE_URL (or the embedded database). */
import { parseEnv } from '../env.js';
import { createLogger } from '../logger.js';
import { openDatabase } from './database.js';
import { migrate, migrationStatus } from './migrate.js';

const env = parseEnv();
const logger = createLogger(env.LOG_LEVEL);
const db = await openDatabase({ url: env.DATABASE_URL, dataDir: env.DATA_DIR, poolMax: 2 });
try {
  const before = await migrationStatus(db);
  await migrate(db);
  const after = await migrationStatus(db);
  logger.info(
    { driver: db.driver, applied: after.applied - before.applied, total: after.available },
    'migrations up to date',
  );
} catch (error) {
  logger.error({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await db.close();
}
